import { randomBytes } from 'node:crypto'
import {
  type Clock,
  elapsedSince,
  type Instant,
  instantOf,
  MAX_TIMER_MS,
  systemClock,
  type TimerHandle,
} from '../shared/client/clock.js'
import type { ProviderCredential } from '../shared/client/credential.js'
import { singleFlight } from '../shared/client/single-flight.js'
import { traceRefresh, watchCredential } from '../shared/client/telemetry.js'
import {
  type ErrorClass,
  type FailureKind,
  toUpstreamError,
  UpstreamError,
} from '../shared/databricks/upstream-error.js'
import { retryDelayMs } from './backoff.js'
import type { CredentialProvider } from './providers/provider.js'
import { isServable, type RefreshPolicy, refreshSchedule } from './refresh-schedule.js'
import { suggestedFix } from './suggested-fix.js'

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
/** One provider fetch (all its upstream calls) is abandoned after this; `BROKER_FETCH_TIMEOUT_S`. */
export const DEFAULT_FETCH_TIMEOUT_MS = 15_000
/** Refresh outcomes kept for the status page and `/readyz`. */
export const HISTORY_LENGTH = 20
/**
 * Credentials whose times are kept for the status page's timeline: the one held, the one it
 * replaced (still valid, under the default policy, until the held one's refresh point) and two
 * before them, about two lifetimes of history.
 */
export const CREDENTIAL_HISTORY_LENGTH = 4
/**
 * A client's report that Postgres refused the current credential mints a new one at most this
 * often per target (`BROKER_FORCED_REFRESH_MIN_S`): one report heals a credential another minter
 * invalidated, while a storm of wrong passwords (a broken role, a misconfigured client) costs the
 * workspace one call per 10 s, not one per failed login.
 */
export const DEFAULT_FORCED_REFRESH_MIN_MS = 10_000

/** What the cache hands out: the credential with its schedule and whether it is stale. */
export interface CachedCredential {
  credential: ProviderCredential
  refreshAt: number
  /** Past the refresh point, the refresh failed, and this is the last good credential. */
  stale: boolean
  /**
   * Opaque and non-secret: a new value for every credential this cache holds (a random prefix per
   * cache, so a restarted broker never repeats one, and a counter). Clients report a refused
   * credential by it.
   */
  version: string
  /** When stale: why the refresh failed, and what a person can do about it. */
  upstreamError?: FailureSummary
  /**
   * In the answer to a refusal report that could not mint (the forced-refresh window, an upstream
   * `Retry-After`): the seconds until a report can.
   */
  retryAfterS?: number
}

/** What {@link CredentialCache.refused} did with a client's report. */
export type RefusalOutcome = 'refreshed' | 'already_replaced' | 'joined' | 'rate_limited' | 'failed'

export interface RefreshRecord {
  at: number
  outcome: 'success' | 'failure'
  durationMs: number
  /** Started by a client's report that Postgres refused the held credential, not by the schedule. */
  forced: boolean
  errorClass?: ErrorClass
  errorKind?: FailureKind
}

/**
 * A credential the cache held, by its times alone (never its password): for the status page's
 * timeline.
 */
export interface CredentialRecord {
  /** The counter part of its version: 1 for the cache's first credential, then 2, 3, … */
  ordinal: number
  issuedAt: number
  refreshAt: number
  expiresAt: number
}

/** A failure as clients, logs and the status page may see it: never a secret. */
export interface FailureSummary {
  at: number
  errorClass: ErrorClass
  kind: 'transient' | 'permanent'
  message: string
  upstreamStatus?: number
  upstreamErrorCode?: string
  /** What a person can do about it ({@link suggestedFix}). */
  fix: string
}

/** The cache's state for health, metrics and the status page. */
export interface TargetStatus {
  target: string
  source: string
  valid: boolean
  stale: boolean
  user?: string
  host?: string
  /** The held credential's read-only host (Provisioned `read_only_dns`), when it names one. */
  readOnlyHost?: string
  expiresAt?: number
  refreshAt?: number
  serveUntil?: number
  nextAttemptAt?: number
  lastSuccessAt?: number
  consecutiveFailures: number
  /** A fetch from upstream is in flight. */
  fetching: boolean
  lastError?: FailureSummary
  history: RefreshRecord[]
  /** The last {@link CREDENTIAL_HISTORY_LENGTH} credentials held, oldest first. */
  credentials: CredentialRecord[]
  /** Credentials minted because a client reported the current one refused. */
  forcedRefreshes: number
  lastForcedRefreshAt?: number
}

/** Hooks for metrics and logs; every argument is free of secrets. */
export interface CacheObserver {
  refreshed?(target: string, record: RefreshRecord, error?: FailureSummary): void
  served?(target: string, stale: boolean): void
  /** A client reported the current or an older version refused; how it was handled. */
  refusalReported?(target: string, outcome: RefusalOutcome): void
}

export interface CredentialCacheOptions {
  target: string
  provider: CredentialProvider
  policy: RefreshPolicy
  clock?: Clock
  /** Uniform in [0, 1); injected so tests fix the jitter. */
  random?: () => number
  fetchTimeoutMs?: number
  /** At most one forced refresh per this many ms; default {@link DEFAULT_FORCED_REFRESH_MIN_MS}. */
  forcedRefreshMinMs?: number
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
  credential: ProviderCredential
  refreshAt: number
  serveUntil: number
  /** When it arrived: its age is measured from here, so a clock set back cannot make it younger. */
  receivedAt: Instant
  version: string
  /** The two ways it is handed out, built once so a read allocates nothing. */
  fresh: CachedCredential
  stale: CachedCredential
  /** The stale view with the error that made it stale, rebuilt only when that error changes. */
  staleWithError?: CachedCredential
}

/** The next background attempt: planned for `at` (wall clock), due `delayMs` after `scheduledAt`. */
interface Plan {
  at: number
  scheduledAt: Instant
  delayMs: number
}

/**
 * Wraps one provider: keeps the last good credential, refreshes it in the background before it
 * expires (one upstream call however many callers wait), keeps serving it through upstream
 * failures while it is valid — flagged stale — and never hands out one past its minimum TTL.
 * Expiry is checked on every read against the time elapsed since the credential arrived, by the
 * wall clock or the monotonic clock, whichever has moved further: a process that was suspended and
 * missed its timer still never serves an expired credential, and neither does one whose wall
 * clock was set back. Timers and rate limits measure elapsed time the same way.
 */
export class CredentialCache {
  readonly target: string
  private readonly provider: CredentialProvider
  private readonly policy: RefreshPolicy
  private readonly clock: Clock
  private readonly random: () => number
  private readonly fetchTimeoutMs: number
  private readonly forcedRefreshMinMs: number
  private readonly observer: CacheObserver
  private held: Held | undefined
  private readonly versionPrefix = randomBytes(4).toString('hex')
  private versions = 0
  private forcedRefreshes = 0
  private lastForced: Instant | undefined
  /** The next fetch to start answers a refusal report (it is recorded as forced). */
  private forcing = false
  /** One fetch at a time: concurrent callers share the promise; a rejection is not kept. */
  private readonly refresh = singleFlight(() =>
    traceRefresh('broker', this.target, () => this.fetchOnce()),
  )
  private lastAttempt: Instant | undefined
  private next: Plan | undefined
  private consecutiveFailures = 0
  private lastError: FailureSummary | undefined
  /** The upstream's last `Retry-After`, honoured by demand fetches too. */
  private retryAfterMs = 0
  private lastSuccessAt: number | undefined
  private readonly history: RefreshRecord[] = []
  private readonly credentials: CredentialRecord[] = []
  private timer: TimerHandle | undefined
  private stopped = false
  /** Takes the cache out of the OpenTelemetry expiry gauge. */
  private unwatch: (() => void) | undefined
  private readonly abort = new AbortController()

  constructor(options: CredentialCacheOptions) {
    this.target = options.target
    this.provider = options.provider
    this.policy = options.policy
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? Math.random
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
    this.forcedRefreshMinMs = options.forcedRefreshMinMs ?? DEFAULT_FORCED_REFRESH_MIN_MS
    this.observer = options.observer ?? {}
  }

  /** Fetches the first credential in the background and keeps the refresh timer running. */
  start(): void {
    this.unwatch ??= watchCredential(
      this,
      { holder: 'broker', target: this.target },
      (cache) => cache.status().expiresAt,
    )
    this.refreshInBackground()
  }

  /** Stops timers and abandons any fetch in flight. */
  stop(): void {
    this.stopped = true
    this.unwatch?.()
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
    const hit = this.peek()
    if (hit) return hit
    if (!this.refresh.running && this.demandWaitMs() > 0) throw this.unavailable()
    try {
      return this.serve(await this.refresh())
    } catch {
      throw this.unavailable()
    }
  }

  /**
   * The held credential when it may be handed out, synchronously and without allocating (the
   * broker's hot path); undefined when {@link get} would have to wait or fail.
   */
  peek(): CachedCredential | undefined {
    const held = this.valid()
    if (!held) return undefined
    // A suspended process may have slept through its timer: catch up on the read path.
    if (this.attemptDue()) this.refreshInBackground()
    return this.serve(held)
  }

  /**
   * A client reports that Postgres refused the credential `version` (28P01). If that is still the
   * one held, a new one is fetched at once (shared with any fetch under way; at most one forced
   * fetch per `forcedRefreshMinMs`); if it was already replaced, the current one is the answer.
   * Answers, and fails, as {@link get} does.
   */
  async refused(version: string): Promise<CachedCredential> {
    const outcome = await this.reactToRefusal(version)
    this.observer.refusalReported?.(this.target, outcome)
    const cached = await this.get()
    // The reported credential again, inside the window: it may still work (drivers cannot say
    // which password failed, so the report may be of a connection's older one), and the answer
    // says when a report can mint a new one.
    if (outcome === 'rate_limited' && cached.version === version) {
      return { ...cached, retryAfterS: Math.ceil(this.refusalWaitMs() / 1000) }
    }
    return cached
  }

  /** How long until a refusal report may force a refresh again. */
  private refusalWaitMs(): number {
    const forced = this.lastForced
    const windowLeft =
      forced === undefined ? 0 : this.forcedRefreshMinMs - elapsedSince(this.clock, forced)
    const attempt = this.lastAttempt
    const pauseLeft =
      attempt === undefined ? 0 : this.retryAfterMs - elapsedSince(this.clock, attempt)
    return Math.max(windowLeft, pauseLeft, 1)
  }

  private async reactToRefusal(version: string): Promise<RefusalOutcome> {
    if (this.held?.version !== version) return 'already_replaced'
    if (this.refresh.running) {
      await this.refresh().catch(() => {})
      return 'joined'
    }
    const last = this.lastForced
    if (last !== undefined && elapsedSince(this.clock, last) < this.forcedRefreshMinMs) {
      return 'rate_limited'
    }
    // The upstream asked for a pause (429 Retry-After): a refusal report does not override it.
    const attempt = this.lastAttempt
    if (attempt !== undefined && elapsedSince(this.clock, attempt) < this.retryAfterMs) {
      return 'rate_limited'
    }
    this.lastForced = instantOf(this.clock)
    this.forcedRefreshes += 1
    // No fetch is running (checked above), so this call starts the one that reads the flag.
    this.forcing = true
    try {
      await this.refresh()
      return 'refreshed'
    } catch {
      // Recorded in lastError and rescheduled; get() answers what is still servable, or 503.
      return 'failed'
    }
  }

  /** A snapshot of the cache's state; contains no password. */
  status(): TargetStatus {
    const held = this.valid()
    const status: TargetStatus = {
      target: this.target,
      source: this.provider.source,
      valid: held !== undefined,
      stale: held !== undefined && this.isStale(held),
      consecutiveFailures: this.consecutiveFailures,
      fetching: this.refresh.running,
      history: [...this.history],
      credentials: [...this.credentials],
      forcedRefreshes: this.forcedRefreshes,
    }
    if (this.lastForced !== undefined) status.lastForcedRefreshAt = this.lastForced.wall
    if (held) {
      status.user = held.credential.user
      status.host = held.credential.host
      if (held.credential.readOnlyHost !== undefined)
        status.readOnlyHost = held.credential.readOnlyHost
      status.expiresAt = held.credential.expiresAt.getTime()
      status.refreshAt = held.refreshAt
      status.serveUntil = held.serveUntil
    }
    if (!this.stopped) status.nextAttemptAt = this.next?.at ?? 0
    if (this.lastSuccessAt !== undefined) status.lastSuccessAt = this.lastSuccessAt
    if (this.lastError) status.lastError = this.lastError
    return status
  }

  private valid(): Held | undefined {
    const held = this.held
    if (held && isServable(held.credential.expiresAt.getTime(), this.nowFor(held), this.policy)) {
      return held
    }
    return undefined
  }

  /** The present on the held credential's clock: its arrival plus the time elapsed since. */
  private nowFor(held: Held): number {
    return held.receivedAt.wall + elapsedSince(this.clock, held.receivedAt)
  }

  private isStale(held: Held): boolean {
    return this.nowFor(held) >= held.refreshAt && this.lastError !== undefined
  }

  private serve(held: Held): CachedCredential {
    const stale = this.isStale(held)
    this.observer.served?.(this.target, stale)
    if (!stale) return held.fresh
    const error = this.lastError
    if (error === undefined) return held.stale
    if (held.staleWithError?.upstreamError !== error) {
      held.staleWithError = { ...held.stale, upstreamError: error }
    }
    return held.staleWithError
  }

  /** Whether the planned background attempt is due (or none is planned yet). */
  private attemptDue(): boolean {
    const next = this.next
    return next === undefined || elapsedSince(this.clock, next.scheduledAt) >= next.delayMs
  }

  /** How long until a client's request may trigger another upstream fetch; ≤ 0 means now. */
  private demandWaitMs(): number {
    if (this.lastAttempt === undefined) return 0
    const interval =
      this.lastError?.kind === 'permanent'
        ? PERMANENT_DEMAND_FETCH_INTERVAL_MS
        : Math.max(MIN_DEMAND_FETCH_INTERVAL_MS, this.retryAfterMs)
    return interval - elapsedSince(this.clock, this.lastAttempt)
  }

  private unavailable(): CredentialUnavailableError {
    const retryAfterS = Math.max(1, Math.ceil(this.demandWaitMs() / 1000))
    return new CredentialUnavailableError(this.target, this.lastError, retryAfterS)
  }

  private refreshInBackground(): void {
    this.refresh().catch(() => {
      // Recorded in lastError and rescheduled by refresh(); nobody awaits a background attempt.
    })
  }

  private async fetchOnce(): Promise<Held> {
    const attempt = instantOf(this.clock)
    const started = attempt.wall
    const forced = this.forcing
    this.forcing = false
    this.lastAttempt = attempt
    try {
      const credential = await this.fetchWithDeadline()
      const now = this.clock.now()
      const expiresAt = credential.expiresAt.getTime()
      if (!isServable(expiresAt, now, this.policy)) {
        throw new UpstreamError(
          'malformed_response',
          `the credential arrived with ${Math.round((expiresAt - now) / 1000)} s left, below the minimum TTL`,
        )
      }
      const issuedAt = Math.min(credential.issuedAt.getTime(), now)
      const schedule = refreshSchedule(issuedAt, expiresAt, this.policy, this.random())
      const ordinal = ++this.versions
      const version = `${this.versionPrefix}.${ordinal}`
      const served = { credential, refreshAt: schedule.refreshAt, version }
      const held: Held = {
        credential,
        ...schedule,
        receivedAt: instantOf(this.clock),
        version,
        fresh: { ...served, stale: false },
        stale: { ...served, stale: true },
      }
      this.held = held
      this.lastSuccessAt = now
      this.consecutiveFailures = 0
      this.lastError = undefined
      this.retryAfterMs = 0
      this.recordCredential({ ordinal, issuedAt, refreshAt: schedule.refreshAt, expiresAt })
      this.record({ at: now, outcome: 'success', durationMs: now - started, forced })
      this.schedule(schedule.refreshAt)
      return held
    } catch (err) {
      const error = toUpstreamError(err)
      const now = this.clock.now()
      this.consecutiveFailures += 1
      this.retryAfterMs = error.retryAfterMs ?? 0
      this.lastError = summarize(error, now, this.provider.source)
      // Even a permanent error (access revoked, an expired CLI login, a deleted instance) keeps
      // what is held: Lakebase checks a token only at login, so Postgres accepts it until it
      // expires. It is served stale, with this error on the status page and in the metrics, and
      // dropped when it expires or a client reports that Postgres refused it.
      this.record(
        {
          at: now,
          outcome: 'failure',
          durationMs: now - started,
          forced,
          errorClass: error.errorClass,
          errorKind: error.kind,
        },
        this.lastError,
      )
      this.schedule(now + retryDelayMs(this.consecutiveFailures, error, this.random()))
      throw error
    }
  }

  /**
   * The provider's answer, or a timeout after `fetchTimeoutMs` on the cache's clock however the
   * provider behaves: the signal asks it to stop, and one that ignores it (a custom provider, a
   * hung command) still releases its target at the deadline; its late answer is discarded.
   */
  private fetchWithDeadline(): Promise<ProviderCredential> {
    const deadline = new AbortController()
    const signal = AbortSignal.any([this.abort.signal, deadline.signal])
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(() => {
        const error = new UpstreamError(
          'timeout',
          `the credential provider did not answer within ${this.fetchTimeoutMs} ms`,
        )
        deadline.abort(error)
        reject(error)
      }, this.fetchTimeoutMs)
      this.provider.fetch(signal).then(
        (credential) => {
          this.clock.clearTimer(timer)
          resolve(credential)
        },
        (err: unknown) => {
          this.clock.clearTimer(timer)
          reject(err)
        },
      )
    })
  }

  private record(entry: RefreshRecord, error?: FailureSummary): void {
    this.history.push(entry)
    if (this.history.length > HISTORY_LENGTH) this.history.shift()
    this.observer.refreshed?.(this.target, entry, error)
  }

  private recordCredential(credential: CredentialRecord): void {
    this.credentials.push(credential)
    if (this.credentials.length > CREDENTIAL_HISTORY_LENGTH) this.credentials.shift()
  }

  private schedule(at: number): void {
    if (this.stopped) return
    const scheduledAt = instantOf(this.clock)
    const next: Plan = { at, scheduledAt, delayMs: at - scheduledAt.wall }
    this.next = next
    if (this.timer) this.clock.clearTimer(this.timer)
    const arm = () => {
      const delay = next.delayMs - elapsedSince(this.clock, next.scheduledAt)
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

export function summarize(error: UpstreamError, at: number, source: string): FailureSummary {
  const summary: FailureSummary = {
    at,
    errorClass: error.errorClass,
    kind: error.kind,
    message: error.message,
    fix: error.suggestion ?? suggestedFix(error.errorClass, source),
  }
  if (error.upstreamStatus !== undefined) summary.upstreamStatus = error.upstreamStatus
  if (error.upstreamErrorCode !== undefined) summary.upstreamErrorCode = error.upstreamErrorCode
  return summary
}
