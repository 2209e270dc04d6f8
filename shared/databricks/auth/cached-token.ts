import { type Clock, systemClock } from '../../client/clock.js'
import { singleFlight } from '../../client/single-flight.js'
import { toUpstreamError, UpstreamError } from '../upstream-error.js'
import type { WorkspaceAuth, WorkspaceToken } from '../workspace-auth.js'

/**
 * Refresh a workspace token this long before it expires. A database credential fetched with it
 * cannot outlive it (effective expiry is the minimum over the chain), so a token about to expire
 * would make the broker's next credential short-lived; five minutes keeps that rare and leaves
 * room for a retry or two if the token endpoint is slow.
 */
export const WORKSPACE_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000

/**
 * The margin never exceeds this share of a token's lifetime, so short-lived tokens (tests,
 * emulators) are still reused for part of their life instead of being fetched on every call.
 */
export const MAX_REFRESH_MARGIN_SHARE = 0.5

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
  refreshMarginMs?: number
}

interface Held {
  token: ExpiringToken
  obtainedAt: number
}

/**
 * Workspace auth for methods whose tokens expire: keeps the last token and fetches a new one when
 * it is within the refresh margin of expiry. Concurrent callers share one fetch, and a failed
 * fetch is never remembered, so the next call tries again.
 *
 * The shared fetch is not tied to any one caller's signal (one caller giving up must not fail the
 * others); it is bounded by its own timeout, and each caller stops waiting when its signal aborts.
 */
export class CachedTokenAuth implements WorkspaceAuth {
  readonly method: string
  readonly host: string
  readonly #clock: Clock
  readonly #refreshMarginMs: number
  readonly #refresh: () => Promise<ExpiringToken>
  #held: Held | undefined

  constructor(options: CachedTokenAuthOptions) {
    this.method = options.method
    this.host = options.host
    this.#clock = options.clock ?? systemClock
    this.#refreshMarginMs = options.refreshMarginMs ?? WORKSPACE_TOKEN_REFRESH_MARGIN_MS
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
    if (held !== undefined && this.#clock.now() < this.#refreshAt(held)) return copy(held.token)
    return copy(await untilAborted(this.#refresh(), signal))
  }

  #refreshAt(held: Held): number {
    const expiresAt = held.token.expiresAt.getTime()
    const lifetime = expiresAt - held.obtainedAt
    return expiresAt - Math.min(this.#refreshMarginMs, lifetime * MAX_REFRESH_MARGIN_SHARE)
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
