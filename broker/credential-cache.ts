import { type Clock, MAX_TIMER_MS, systemClock, type TimerHandle } from '../shared/clock.js'
import type { Credential } from '../shared/credential.js'
import { singleFlight } from '../shared/single-flight.js'
import { retryDelayMs } from './backoff.js'
import { type ErrorClass, ProviderError, toProviderError } from './provider-error.js'
import type { CredentialProvider } from './providers/provider.js'
import { isServable, type RefreshPolicy, refreshSchedule } from './refresh-schedule.js'

/**
 * While no valid credential is held, client requests trigger a fetch at once, but no more often
 * than this: a crowd of callers against a failing upstream must not become a request storm.
 */
export const MIN_DEMAND_FETCH_INTERVAL_MS = 1_000
/**
 * After a permanent failure (401/403/404/400) a person must usually act first; requests still
 * probe upstream, but only this often, so a fix shows within seconds without a request storm.
 */
export const PERMANENT_DEMAND_FETCH_INTERVAL_MS = 10_000
/** One provider fetch (all its upstream calls) may take this long before it is abandoned. */
export const DEFAULT_FETCH_TIMEOUT_MS = 15_000
/** Refresh outcomes kept for the status page and `/readyz`. */
export const HISTORY_LENGTH = 20

/** What the cache hands out: the credential with its schedule and whether it is stale. */
export interface CachedCredential {
  credential: Credential
  refreshAt: number
  /** Past the refresh point, the refresh failed, and this is the last good credential. */
  stale: boolean
}

export interface RefreshRecord {
  at: number
  outcome: 'success' | 'failure'
  durationMs: number
  errorClass?: ErrorClass
}

/** A failure as clients, logs and the status page may see it: never a secret. */
export interface FailureSummary {
  at: number
  errorClass: ErrorClass
  kind: 'transient' | 'permanent'
  message: string
  upstreamStatus?: number
  upstreamErrorCode?: string
}

/** The cache's state for health, metrics and the status page. */
export interface TargetStatus {
  target: string
  source: string
  valid: boolean
  stale: boolean
  user?: string
  host?: string
  expiresAt?: number
  refreshAt?: number
  serveUntil?: number
  nextAttemptAt?: number
  lastSuccessAt?: number
  consecutiveFailures: number
  lastError?: FailureSummary
  history: RefreshRecord[]
}

/** Hooks for metrics and logs; every argument is free of secrets. */
export interface CacheObserver {
  refreshed?(target: string, record: RefreshRecord, error?: FailureSummary): void
  served?(target: string, stale: boolean): void
}

export interface CredentialCacheOptions {
  target: string
  provider: CredentialProvider
  policy: RefreshPolicy
  clock?: Clock
  /** Uniform in [0, 1); injected so tests fix the jitter. */
  random?: () => number
  fetchTimeoutMs?: number
  observer?: CacheObserver
}

/** Thrown by {@link CredentialCache.get} when no valid credential can be handed out. */
export class CredentialUnavailableError extends Error {
  constructor(
    readonly target: string,
    readonly lastError: FailureSummary | undefined,
    /** Seconds until the next attempt is worth making. */
    readonly retryAfterS: number,
  ) {
    super(`no valid credential for target "${target}"`)
    this.name = 'CredentialUnavailableError'
  }
}

interface Held {
  credential: Credential
  refreshAt: number
  serveUntil: number
}

/**
 * Wraps one provider: keeps the last good credential, refreshes it in the background before it
 * expires (one upstream call however many callers wait), keeps serving it through upstream
 * failures while it is valid — flagged stale — and never hands out one past its minimum TTL.
 * Expiry is checked against the wall clock on every read, so a process that was suspended and
 * missed its timer still never serves an expired credential.
 */
export class CredentialCache {
  readonly target: string
  private readonly provider: CredentialProvider
  private readonly policy: RefreshPolicy
  private readonly clock: Clock
  private readonly random: () => number
  private readonly fetchTimeoutMs: number
  private readonly observer: CacheObserver
  private held: Held | undefined
  /** One fetch at a time: concurrent callers share the promise; a rejection is not kept. */
  private readonly refresh = singleFlight(() => this.fetchOnce())
  private lastAttemptAt = Number.NEGATIVE_INFINITY
  private nextAttemptAt = 0
  private consecutiveFailures = 0
  private lastError: FailureSummary | undefined
  /** The upstream's last `Retry-After`, honoured by demand fetches too. */
  private retryAfterMs = 0
  private lastSuccessAt: number | undefined
  private readonly history: RefreshRecord[] = []
  private timer: TimerHandle | undefined
  private stopped = false
  private readonly abort = new AbortController()

  constructor(options: CredentialCacheOptions) {
    this.target = options.target
    this.provider = options.provider
    this.policy = options.policy
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? Math.random
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
    this.observer = options.observer ?? {}
  }

  /** Fetches the first credential in the background and keeps the refresh timer running. */
  start(): void {
    this.refreshInBackground()
  }

  /** Stops timers and abandons any fetch in flight. */
  stop(): void {
    this.stopped = true
    if (this.timer) this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.abort.abort()
  }

  /**
   * A credential that is valid for at least the minimum TTL, or a
   * {@link CredentialUnavailableError}. Without a valid one, a fetch starts at once (shared
   * with any already running, rate-limited), so recovery does not wait for the backoff.
   */
  async get(): Promise<CachedCredential> {
    const now = this.clock.now()
    const held = this.valid(now)
    if (held) {
      // A suspended process may have slept through its timer: catch up on the read path.
      if (now >= this.nextAttemptAt) this.refreshInBackground()
      return this.serve(held, now)
    }
    if (!this.refresh.running && !this.demandFetchAllowed(now)) throw this.unavailable(now)
    try {
      const fetched = await this.refresh()
      return this.serve(fetched, this.clock.now())
    } catch {
      throw this.unavailable(this.clock.now())
    }
  }

  /** A snapshot of the cache's state; contains no password. */
  status(): TargetStatus {
    const now = this.clock.now()
    const held = this.valid(now)
    const status: TargetStatus = {
      target: this.target,
      source: this.provider.source,
      valid: held !== undefined,
      stale: held !== undefined && this.isStale(held, now),
      consecutiveFailures: this.consecutiveFailures,
      history: [...this.history],
    }
    if (held) {
      status.user = held.credential.user
      status.host = held.credential.host
      status.expiresAt = held.credential.expiresAt.getTime()
      status.refreshAt = held.refreshAt
      status.serveUntil = held.serveUntil
    }
    if (!this.stopped) status.nextAttemptAt = this.nextAttemptAt
    if (this.lastSuccessAt !== undefined) status.lastSuccessAt = this.lastSuccessAt
    if (this.lastError) status.lastError = this.lastError
    return status
  }

  private valid(now: number): Held | undefined {
    const held = this.held
    if (held && isServable(held.credential.expiresAt.getTime(), now, this.policy)) return held
    return undefined
  }

  private isStale(held: Held, now: number): boolean {
    return now >= held.refreshAt && this.lastError !== undefined
  }

  private serve(held: Held, now: number): CachedCredential {
    const stale = this.isStale(held, now)
    this.observer.served?.(this.target, stale)
    return { credential: held.credential, refreshAt: held.refreshAt, stale }
  }

  /** The earliest moment a client's request may trigger another upstream fetch. */
  private demandFetchAt(): number {
    const interval =
      this.lastError?.kind === 'permanent'
        ? PERMANENT_DEMAND_FETCH_INTERVAL_MS
        : Math.max(MIN_DEMAND_FETCH_INTERVAL_MS, this.retryAfterMs)
    return this.lastAttemptAt + interval
  }

  private demandFetchAllowed(now: number): boolean {
    return now >= this.demandFetchAt()
  }

  private unavailable(now: number): CredentialUnavailableError {
    const retryAfterS = Math.max(1, Math.ceil((this.demandFetchAt() - now) / 1000))
    return new CredentialUnavailableError(this.target, this.lastError, retryAfterS)
  }

  private refreshInBackground(): void {
    this.refresh().catch(() => {
      // Recorded in lastError and rescheduled by refresh(); nobody awaits a background attempt.
    })
  }

  private async fetchOnce(): Promise<Held> {
    const started = this.clock.now()
    this.lastAttemptAt = started
    try {
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.fetchTimeoutMs)])
      const credential = await this.provider.fetch(signal)
      const now = this.clock.now()
      const expiresAt = credential.expiresAt.getTime()
      if (!isServable(expiresAt, now, this.policy)) {
        throw new ProviderError(
          'malformed_response',
          `the credential arrived with ${Math.round((expiresAt - now) / 1000)} s left, below the minimum TTL`,
        )
      }
      const issuedAt = Math.min(credential.issuedAt.getTime(), now)
      const schedule = refreshSchedule(issuedAt, expiresAt, this.policy, this.random())
      const held: Held = { credential, ...schedule }
      this.held = held
      this.lastSuccessAt = now
      this.consecutiveFailures = 0
      this.lastError = undefined
      this.retryAfterMs = 0
      this.record({ at: now, outcome: 'success', durationMs: now - started })
      this.schedule(schedule.refreshAt)
      return held
    } catch (err) {
      const error = toProviderError(err)
      const now = this.clock.now()
      this.consecutiveFailures += 1
      this.retryAfterMs = error.retryAfterMs ?? 0
      this.lastError = summarize(error, now)
      // Access revoked upstream means this credential should no longer be handed out either.
      if (error.kind === 'permanent') this.held = undefined
      this.record(
        { at: now, outcome: 'failure', durationMs: now - started, errorClass: error.errorClass },
        this.lastError,
      )
      this.schedule(now + retryDelayMs(this.consecutiveFailures, error, this.random()))
      throw error
    }
  }

  private record(entry: RefreshRecord, error?: FailureSummary): void {
    this.history.push(entry)
    if (this.history.length > HISTORY_LENGTH) this.history.shift()
    this.observer.refreshed?.(this.target, entry, error)
  }

  private schedule(at: number): void {
    if (this.stopped) return
    this.nextAttemptAt = at
    if (this.timer) this.clock.clearTimer(this.timer)
    const arm = () => {
      const delay = this.nextAttemptAt - this.clock.now()
      if (delay <= 0) {
        this.timer = undefined
        this.refreshInBackground()
        return
      }
      // Timers above 2^31-1 ms fire at once in Node; long waits are re-armed in steps.
      this.timer = this.clock.setTimer(arm, Math.min(delay, MAX_TIMER_MS))
    }
    arm()
  }
}

function summarize(error: ProviderError, at: number): FailureSummary {
  const summary: FailureSummary = {
    at,
    errorClass: error.errorClass,
    kind: error.kind,
    message: error.message,
  }
  if (error.upstreamStatus !== undefined) summary.upstreamStatus = error.upstreamStatus
  if (error.upstreamErrorCode !== undefined) summary.upstreamErrorCode = error.upstreamErrorCode
  return summary
}
