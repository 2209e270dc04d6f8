import { type Clock, systemClock } from '../../client/clock.js'
import { singleFlight } from '../../client/single-flight.js'
import { toUpstreamError, UpstreamError } from '../upstream-error.js'
import type { WorkspaceAuth, WorkspaceToken } from '../workspace-auth.js'

/**
 * A workspace token is refreshed once this share of its lifetime has passed: at its half-life, as
 * the broker refreshes database credentials well before expiry. The refresh runs behind the held
 * token, which callers keep getting until it is done, so a slow or failing token endpoint costs
 * no mint while the held token is still valid.
 */
export const WORKSPACE_TOKEN_REFRESH_FRACTION = 0.5

/**
 * The held token is handed out only while it has this long left (a mint's few calls need it for
 * seconds); past that, callers wait for a new one. Never more than a tenth of a short token's life.
 */
export const WORKSPACE_TOKEN_MIN_REMAINING_MS = 60_000

/** After a refresh behind a held token fails, the next attempt waits this long. */
export const WORKSPACE_TOKEN_RETRY_MS = 10_000

/** A token as a token source returns it: one that expires, at a known time. */
export interface ExpiringToken {
  accessToken: string
  expiresAt: Date
}

/** Fetches a new workspace token (OAuth M2M, the Databricks CLI); never caches. */
export type TokenSource = (signal: AbortSignal) => Promise<ExpiringToken>

/** What a {@link CachedTokenAuth} wraps, and how it keeps time. */
export interface CachedTokenAuthOptions {
  /** The method's name, e.g. `oauth-m2m`. */
  method: string
  host: string
  source: TokenSource
  clock?: Clock
  /** @default {@link WORKSPACE_TOKEN_REFRESH_FRACTION} */
  refreshFraction?: number
}

interface Held {
  token: ExpiringToken
  obtainedAt: number
}

/**
 * Workspace auth for methods whose tokens expire: keeps the last token, and past its refresh point
 * (half its life) fetches the next one behind it, handing out the held token meanwhile. Callers
 * wait only when no held token has {@link WORKSPACE_TOKEN_MIN_REMAINING_MS} left. Concurrent
 * callers share one fetch; a failure is never remembered as a result: a caller waiting for a token
 * gets it, and a refresh behind a held token is tried again after {@link WORKSPACE_TOKEN_RETRY_MS}.
 *
 * The shared fetch is not tied to any one caller's signal (one caller giving up must not fail the
 * others); each caller stops waiting when its signal aborts.
 */
export class CachedTokenAuth implements WorkspaceAuth {
  readonly method: string
  readonly host: string
  readonly #clock: Clock
  readonly #refreshFraction: number
  readonly #refresh: () => Promise<ExpiringToken>
  #held: Held | undefined
  /** No refresh behind the held token before this (ms), after one failed. */
  #retryAt = 0

  constructor(options: CachedTokenAuthOptions) {
    this.method = options.method
    this.host = options.host
    this.#clock = options.clock ?? systemClock
    this.#refreshFraction = options.refreshFraction ?? WORKSPACE_TOKEN_REFRESH_FRACTION
    const source = options.source
    this.#refresh = singleFlight(async () => {
      const obtainedAt = this.#clock.now()
      const token = await source(new AbortController().signal)
      if (token.expiresAt.getTime() <= this.#clock.now()) {
        throw new UpstreamError(
          'unauthorized',
          `${this.method} returned a workspace token that has already expired`,
        )
      }
      this.#held = { token, obtainedAt }
      return token
    })
  }

  async token(signal: AbortSignal): Promise<WorkspaceToken> {
    if (signal.aborted) throw toUpstreamError(signal.reason)
    const held = this.#held
    const now = this.#clock.now()
    if (held !== undefined && now < this.#usableUntil(held)) {
      if (now >= this.#refreshAt(held) && now >= this.#retryAt) this.#refreshBehind()
      return copy(held.token)
    }
    return copy(await untilAborted(this.#refresh(), signal))
  }

  /** Fetches the next token while the held one is served; a failure only delays the next try. */
  #refreshBehind(): void {
    this.#refresh().catch(() => {
      this.#retryAt = this.#clock.now() + WORKSPACE_TOKEN_RETRY_MS
    })
  }

  #refreshAt(held: Held): number {
    const lifetime = held.token.expiresAt.getTime() - held.obtainedAt
    return held.obtainedAt + lifetime * this.#refreshFraction
  }

  #usableUntil(held: Held): number {
    const expiresAt = held.token.expiresAt.getTime()
    const lifetime = expiresAt - held.obtainedAt
    return expiresAt - Math.min(WORKSPACE_TOKEN_MIN_REMAINING_MS, lifetime / 10)
  }
}

function copy(token: ExpiringToken): WorkspaceToken {
  return { accessToken: token.accessToken, expiresAt: new Date(token.expiresAt.getTime()) }
}

/** Resolves like `promise`, or rejects as soon as `signal` aborts, whichever comes first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(toUpstreamError(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(toUpstreamError(err))
      },
    )
  })
}
