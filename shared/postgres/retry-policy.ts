import type { Rule } from '../client/sqlstate.js'
import { nextWakePause, WAKE_PAUSE_MS } from '../client/wake-up.js'

/**
 * A rejected password is retried with a fresh credential up to this often, pausing
 * AUTH_RETRY_PAUSE_MS longer each time: a rotation lands in the broker within milliseconds. Both
 * driver entries follow it.
 */
export const MAX_AUTH_RETRIES = 3
export const AUTH_RETRY_PAUSE_MS = 100
/**
 * A serialization failure or deadlock is retried up to this often, after a random pause of up
 * to CONFLICT_PAUSE_MS doubled per attempt: the jitter keeps the colliding statements apart.
 */
export const MAX_CONFLICT_RETRIES = 3
export const CONFLICT_PAUSE_MS = 20
/**
 * A read that ran when its connection dropped is retried up to this often: once for the drop,
 * once more because the event that dropped it (a failover, a kill of every backend of the role)
 * can reach the new pool's first connection too, and once more because the recovery (a new
 * pool, a login with a rotated credential) can meet the next such event: the rotation test kills
 * every backend in each of three rounds, and with two retries a read reached its caller about once
 * in ten runs. A read is safe to repeat.
 */
export const MAX_READ_RETRIES = 3
/** A statement that never reached the server is retried up to this often after a dropped connection. */
export const MAX_UNRAN_RETRIES = 3

/** Waits `ms`; no timer at all for 0. */
export const pause = (ms: number): Promise<unknown> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()

/**
 * What one operation's failures may still cost, by the rule each one's SQLSTATE gives: its
 * counters and pauses, one object per statement (or transaction, or reserved connection), so that
 * every failure draws on the same budget.
 */
export class RetryBudget {
  /** When the operation began (performance.now()): waits are bounded from here. */
  readonly since: number
  /** The credential versions handed to it after a refusal (see credentialAfterRefusal). */
  readonly tried = new Set<string>()
  /** The last refused login's error: what the caller gets if no better credential comes in time. */
  refusal: unknown
  #refusals = 0
  #conflicts = 0
  #reads = 0
  #unran = 0
  #wakePause = WAKE_PAUSE_MS

  /** Made at an operation's first failure: a statement that succeeds never builds one. */
  constructor(
    private readonly wakeTimeoutMs: number,
    since: number = performance.now(),
  ) {
    this.since = since
  }

  /** Logins refused so far. */
  get refusals(): number {
    return this.#refusals
  }

  /** Postgres refused the login (`err`): the pause before logging in again, or undefined once spent. */
  refusedLogin(err: unknown): number | undefined {
    if (this.#refusals >= MAX_AUTH_RETRIES) return undefined
    this.refusal = err
    // The broker may still be storing the credential that replaced the refused one.
    return AUTH_RETRY_PAUSE_MS * this.#refusals++
  }

  /**
   * A connection failure before anything ran, on a pool that never answered: the pause before
   * trying a server that may be waking (scale-to-zero) again, within the wake timeout.
   */
  waking(): number | undefined {
    if (performance.now() - this.since + this.#wakePause >= this.wakeTimeoutMs) return undefined
    const wait = this.#wakePause
    this.#wakePause = nextWakePause(wait)
    return wait
  }

  /** Nothing reached the server: one more try, up to {@link MAX_UNRAN_RETRIES}. */
  unran(): boolean {
    return this.#unran < MAX_UNRAN_RETRIES && ++this.#unran > 0
  }

  /** A read that ran when its connection dropped: one more try, up to {@link MAX_READ_RETRIES}. */
  read(): boolean {
    return this.#reads < MAX_READ_RETRIES && ++this.#reads > 0
  }

  /** A serialization failure or deadlock: the jittered pause before trying again, or undefined. */
  conflict(): number | undefined {
    if (this.#conflicts >= MAX_CONFLICT_RETRIES) return undefined
    return Math.random() * CONFLICT_PAUSE_MS * 2 ** this.#conflicts++
  }

  /**
   * A statement's whole ladder (see createSql's JSDoc): the pause before trying `err`'s statement
   * again (0: at once), or undefined when it must not be. `rerunnable` is asked only when a read
   * that ran is in question (it costs regular expressions).
   */
  statement(
    rule: Rule,
    err: unknown,
    at: { ran: boolean; answered: boolean; rerunnable: () => boolean },
  ): number | undefined {
    if (rule.retry === 'login') {
      const wait = this.refusedLogin(err)
      if (wait !== undefined) return wait
    }
    if (rule.wakes && !at.ran && !at.answered) {
      const wait = this.waking()
      if (wait !== undefined) return wait
    }
    if (rule.retry === 'unless-ran') {
      // Nothing reached the server (e.g. the error postgres.js hands on from a killed backend to
      // the next query on its connection): always safe, and not the one retry of a read.
      if (!at.ran && this.unran()) return 0
      if (at.rerunnable() && this.read()) return 0
    }
    if (rule.retry === 'conflict') return this.conflict()
    return undefined
  }
}
