import { type Clock, systemClock } from '../../shared/client/clock.js'

/**
 * Workspace calls a client may start for user tokens the broker holds no credential for: a
 * burst, then a steady rate. Sized for an app whose users arrive at once: 50 new users in an
 * instant, then 10 a second (600 a minute) from one client, while a cached user costs nothing.
 */
export const USER_MINT_BURST = 50
export const USER_MINT_PER_SECOND = 10
/**
 * A token the workspace refused (401/403) costs this many more, as a login form slows down after
 * failed logins: a client sending made-up tokens gets 2 a second, not 10.
 */
export const USER_MINT_REFUSAL_COST = 4
/**
 * Refusals put a bucket in debt down to minus the burst, no further: a client that stops sending
 * made-up tokens is back to its full rate within seconds.
 */
const MAX_DEBT = USER_MINT_BURST
/** A refused token's fingerprint is remembered this long: asking again costs no workspace call. */
export const REFUSED_TOKEN_MEMORY_MS = 60_000
/** At most this many refused fingerprints are remembered (oldest leave first): ~100 KB. */
export const REFUSED_TOKEN_MAX = 1_000

interface Bucket {
  tokens: number
  at: number
}

/** What the workspace said when it refused a token: its class, status and code, no message. */
export interface Refusal {
  errorClass: 'unauthorized' | 'forbidden'
  upstreamStatus: number | undefined
  upstreamErrorCode: string | undefined
  at: number
}

/**
 * The per-client bound on per-user mints: a token bucket per client name, and a short memory of
 * the fingerprints the workspace refused. Fingerprints only; never a token.
 */
export class UserMintLimiter {
  readonly #clock: Clock
  readonly #buckets = new Map<string, Bucket>()
  /** Fingerprint → the refusal; Map order is age order. */
  readonly #refused = new Map<string, Refusal>()

  constructor(clock: Clock = systemClock) {
    this.#clock = clock
  }

  /**
   * Takes one mint for `client`; when its bucket is empty, the seconds until it holds one again.
   * @returns undefined when the mint may go ahead
   */
  take(client: string): number | undefined {
    const bucket = this.#fill(client)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return undefined
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / USER_MINT_PER_SECOND))
  }

  /** The workspace refused the token with this fingerprint that `client` sent. */
  refused(client: string, fingerprint: string, refusal: Omit<Refusal, 'at'>): void {
    const bucket = this.#fill(client)
    bucket.tokens = Math.max(-MAX_DEBT, bucket.tokens - USER_MINT_REFUSAL_COST)
    this.#refused.delete(fingerprint)
    this.#refused.set(fingerprint, { ...refusal, at: this.#clock.now() })
    for (const key of this.#refused.keys()) {
      if (this.#refused.size <= REFUSED_TOKEN_MAX) break
      this.#refused.delete(key)
    }
  }

  /** The workspace's refusal of this fingerprint within {@link REFUSED_TOKEN_MEMORY_MS}, if any. */
  refusalOf(fingerprint: string): Refusal | undefined {
    const refusal = this.#refused.get(fingerprint)
    if (refusal === undefined) return undefined
    if (this.#clock.now() - refusal.at < REFUSED_TOKEN_MEMORY_MS) return refusal
    this.#refused.delete(fingerprint)
    return undefined
  }

  /** `client`'s bucket, refilled for the time since it was last touched (never above the burst). */
  #fill(client: string): Bucket {
    const now = this.#clock.now()
    let bucket = this.#buckets.get(client)
    if (bucket === undefined) {
      bucket = { tokens: USER_MINT_BURST, at: now }
      this.#buckets.set(client, bucket)
    }
    const elapsedS = Math.max(0, now - bucket.at) / 1000
    bucket.tokens = Math.min(USER_MINT_BURST, bucket.tokens + elapsedS * USER_MINT_PER_SECOND)
    bucket.at = now
    return bucket
  }
}
