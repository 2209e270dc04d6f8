import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { CacheObserver, TargetStatus } from './credential-cache.js'

/** Refresh latency buckets (seconds): workspace calls take tens to hundreds of ms. */
const REFRESH_DURATION_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15]

interface RequestSeries {
  labels: { caller: string; target: string; status: string }
  n: number
  inc(): void
}

/**
 * The broker's Prometheus metrics, on a registry of its own. Labels carry target names, caller
 * names, outcomes and error classes — never a credential.
 */
export class BrokerMetrics {
  readonly registry = new Registry()
  readonly refreshes: Counter<'target' | 'outcome' | 'error_class'>
  readonly refreshDuration: Histogram<'target'>
  readonly staleServes: Counter<'target'>
  readonly requests: Counter<'caller' | 'target' | 'status'>
  readonly #requestSeries = new Map<string, RequestSeries>()
  readonly refusals: Counter<'target' | 'outcome'>
  readonly forcedRefreshes: Counter<'target'>

  constructor(statuses: () => TargetStatus[], now: () => number = Date.now) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'lakebase_broker_' })
    this.refreshes = new Counter({
      name: 'lakebase_broker_refreshes_total',
      help: 'Credential fetches by outcome and error class',
      labelNames: ['target', 'outcome', 'error_class'],
      registers,
    })
    this.refreshDuration = new Histogram({
      name: 'lakebase_broker_refresh_duration_seconds',
      help: 'How long one credential fetch took',
      labelNames: ['target'],
      buckets: REFRESH_DURATION_BUCKETS_S,
      registers,
    })
    this.staleServes = new Counter({
      name: 'lakebase_broker_stale_serves_total',
      help: 'Credentials handed out past their refresh point after a failed refresh',
      labelNames: ['target'],
      registers,
    })
    const series = this.#requestSeries
    this.requests = new Counter({
      name: 'lakebase_broker_requests_total',
      help: 'Credential requests by caller, target and HTTP status',
      labelNames: ['caller', 'target', 'status'],
      registers,
      // Counted in plain numbers on the hot path (see requestCounter), read at scrape time.
      collect() {
        this.reset()
        for (const s of series.values()) if (s.n > 0) this.inc(s.labels, s.n)
      },
    })
    this.refusals = new Counter({
      name: 'lakebase_broker_refusals_reported_total',
      help: 'Clients reporting a credential Postgres refused, by what the broker did (refreshed, already_replaced, joined, rate_limited, failed)',
      labelNames: ['target', 'outcome'],
      registers,
    })
    this.forcedRefreshes = new Counter({
      name: 'lakebase_broker_forced_refreshes_total',
      help: 'Credentials fetched because a client reported the current one refused',
      labelNames: ['target'],
      registers,
    })
    new Gauge({
      name: 'lakebase_broker_credential_expiry_seconds',
      help: 'Seconds until the held credential expires (0 when none is valid)',
      labelNames: ['target'],
      registers,
      collect() {
        for (const s of statuses()) {
          this.set(
            { target: s.target },
            s.expiresAt ? Math.max(0, (s.expiresAt - now()) / 1000) : 0,
          )
        }
      },
    })
    new Gauge({
      name: 'lakebase_broker_credential_valid',
      help: '1 while the target holds a credential that may be handed out',
      labelNames: ['target'],
      registers,
      collect() {
        for (const s of statuses()) this.set({ target: s.target }, s.valid ? 1 : 0)
      },
    })
    new Gauge({
      name: 'lakebase_broker_credential_stale',
      help: '1 while the target serves its last good credential after a failed refresh',
      labelNames: ['target'],
      registers,
      collect() {
        for (const s of statuses()) this.set({ target: s.target }, s.stale ? 1 : 0)
      },
    })
    new Gauge({
      name: 'lakebase_broker_upstream_error',
      help: '1 while the last fetch failed, labelled with its class, kind (transient/permanent) and the suggested fix',
      labelNames: ['target', 'error_class', 'kind', 'fix'],
      registers,
      collect() {
        this.reset()
        for (const s of statuses()) {
          const e = s.consecutiveFailures > 0 ? s.lastError : undefined
          if (e)
            this.set({ target: s.target, error_class: e.errorClass, kind: e.kind, fix: e.fix }, 1)
        }
      },
    })
    new Gauge({
      name: 'lakebase_broker_seconds_since_last_success',
      help: 'Seconds since the last successful fetch (-1 before the first)',
      labelNames: ['target'],
      registers,
      collect() {
        for (const s of statuses()) {
          const since = s.lastSuccessAt === undefined ? -1 : (now() - s.lastSuccessAt) / 1000
          this.set({ target: s.target }, since)
        }
      },
    })
  }

  /**
   * The counter of one caller, target and status for `lakebase_broker_requests_total`: an
   * increment of a plain number per request (a cache hit costs no label hashing), read into the
   * Prometheus counter when `/metrics` is scraped. One object per label set.
   */
  requestCounter(labels: { caller: string; target: string; status: string }): { inc(): void } {
    const key = `${labels.caller}\u0000${labels.target}\u0000${labels.status}`
    let s = this.#requestSeries.get(key)
    if (s === undefined) {
      const created: RequestSeries = {
        labels: { ...labels },
        n: 0,
        inc() {
          created.n += 1
        },
      }
      s = created
      this.#requestSeries.set(key, s)
    }
    return s
  }

  /** The cache observer that feeds these metrics. */
  observer(): CacheObserver {
    return {
      refreshed: (target, record) => {
        this.refreshes.inc({
          target,
          outcome: record.outcome,
          error_class: record.errorClass ?? '',
        })
        this.refreshDuration.observe({ target }, record.durationMs / 1000)
      },
      served: (target, stale) => {
        if (stale) this.staleServes.inc({ target })
      },
      refusalReported: (target, outcome) => {
        this.refusals.inc({ target, outcome })
        if (outcome === 'refreshed' || outcome === 'failed') this.forcedRefreshes.inc({ target })
      },
    }
  }
}
