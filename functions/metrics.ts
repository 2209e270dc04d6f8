import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { classifyDatabaseError, LakebaseError, sqlstateOf } from 'lakebase-broker'
import { Counter, Gauge, Registry } from 'prom-client'
import type { FunctionsDatabase } from './db/database.js'

/** Request latency buckets (seconds): a cached read takes a millisecond, a cold login 100s. */
const REQUEST_DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** A SQLSTATE (classes start with a digit, or are HV, P0, XX, F0), not a driver code like EPIPE. */
const SQLSTATE = /^([0-9][0-9A-Z]|HV|P0|XX|F0)[0-9A-Z]{3}$/

/** How deep a cause chain is searched for the database error under an answer (as sqlstateOf does). */
const MAX_CAUSE_DEPTH = 5

/**
 * The functions' Prometheus metrics, on a registry of this app's own (never prom-client's
 * global one, so several apps in one process and tests never collide). Labels carry methods,
 * route templates, statuses and failure classes: never a path with its parameters, a user or
 * a value. The pool figures are the driver's own counts (createSql's `sqlStats`).
 */
export class FunctionsMetrics {
  readonly registry = new Registry()
  readonly requestDuration: RequestDurations
  readonly databaseErrors: Counter<'class'>

  constructor(database: FunctionsDatabase) {
    const registers = [this.registry]
    this.requestDuration = new RequestDurations(
      'lakebase_functions_http_request_duration_seconds',
      'HTTP requests by method, route template and status',
      REQUEST_DURATION_BUCKETS_S,
    )
    // prom-client's registry renders any object with a name, a help, a type and get().
    this.registry.registerMetric(this.requestDuration as never)
    this.databaseErrors = new Counter({
      name: 'lakebase_functions_database_errors_total',
      help: 'Requests answered with a database failure, by its class in the SQLSTATE table (auth, connection, busy, conflict, timeout, not-migrated, permission, value, …; other for the unlisted)',
      labelNames: ['class'],
      registers,
    })
    new Gauge({
      name: 'lakebase_functions_pool_max_connections',
      help: 'The most connections the pool opens',
      registers,
      collect() {
        this.set(database.stats().max)
      },
    })
    new Gauge({
      name: 'lakebase_functions_pool_open_connections',
      help: 'Connections open now, as the driver counts them',
      registers,
      collect() {
        this.set(database.stats().open)
      },
    })
    // Counters read from the driver at scrape time: reset and set, as prom-client allows.
    new Counter({
      name: 'lakebase_functions_pool_logins_total',
      help: 'Logins the pool started (each asked the broker client for the password)',
      registers,
      collect() {
        this.reset()
        this.inc(database.stats().logins)
      },
    })
    new Counter({
      name: 'lakebase_functions_pool_closes_total',
      help: 'Connections the pool closed',
      registers,
      collect() {
        this.reset()
        this.inc(database.stats().closes)
      },
    })
  }

  /** Times every request by its route template and counts the database failures it answered. */
  middleware(): MiddlewareHandler {
    const metrics = this
    const durations = this.requestDuration
    return async function recordMetrics(c, next) {
      const started = performance.now()
      await next()
      const series = durations.series(c.req.method, routeOf(c), c.res.status)
      durations.observe(series, (performance.now() - started) / 1000)
      const failure = c.error === undefined ? undefined : databaseFailure(c.error)
      if (failure !== undefined) metrics.databaseErrors.inc({ class: failure })
    }
  }

  /** `GET /metrics`: the Prometheus text. */
  handler(): (c: Context) => Promise<Response> {
    const registry = this.registry
    return async function metricsText(c) {
      c.header('Content-Type', registry.contentType)
      c.header('Cache-Control', 'no-store')
      return c.body(await registry.metrics())
    }
  }
}

/**
 * The template of the route that answered (`/api/preferences/:key`), never the path itself: one
 * series per route, not per user or key. A request no route took is `unmatched`.
 */
function routeOf(c: Context): string {
  const path = routePath(c)
  return path === '*' || path === '/*' || path === '' ? 'unmatched' : path
}

/** The class of the database error under `err` (drizzle's wrapper, an LakebaseError's cause), if any. */
function databaseFailure(err: Error): string | undefined {
  let e: unknown = err
  for (let depth = 0; e && depth < MAX_CAUSE_DEPTH; depth++) {
    const code = e instanceof LakebaseError ? undefined : sqlstateOf(e)
    if (code !== undefined) {
      const failure = classifyDatabaseError(e)
      // An unlisted code counts only when it is a SQLSTATE, not a Node error code on a bug.
      if (failure !== 'other' || SQLSTATE.test(code)) return failure
      return undefined
    }
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** A value as prom-client's registry renders it: `metricName{labels} value`. */
interface RenderedValue {
  metricName: string
  labels: Record<string, string | number>
  value: number
}

/** One series of request durations: the count in each bucket (not cumulative), sum and count. */
interface DurationSeries {
  labels: { method: string; route: string; status: string }
  counts: number[]
  sum: number
  count: number
}

/**
 * The request-duration histogram, counted here and rendered by prom-client's registry in its own
 * histogram format (`_bucket{le}` cumulative, `_sum`, `_count`). prom-client's `Histogram` hashes
 * its label object on every observation, a child from `labels()` included (4 µs a request, 2 %
 * of a small route's CPU; see BENCHMARKS.md); here a series is found by method, route template
 * and status in nested maps of strings and numbers, and an observation is a few additions.
 */
export class RequestDurations {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly byMethod = new Map<string, Map<string, Map<number, DurationSeries>>>()

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  /** The series of one method, route template and status, made on first use. */
  series(method: string, route: string, status: number): DurationSeries {
    let byRoute = this.byMethod.get(method)
    if (byRoute === undefined) {
      byRoute = new Map()
      this.byMethod.set(method, byRoute)
    }
    let byStatus = byRoute.get(route)
    if (byStatus === undefined) {
      byStatus = new Map()
      byRoute.set(route, byStatus)
    }
    let series = byStatus.get(status)
    if (series === undefined) {
      const counts = new Array<number>(this.bounds.length + 1).fill(0)
      series = { labels: { method, route, status: String(status) }, counts, sum: 0, count: 0 }
      byStatus.set(status, series)
    }
    return series
  }

  observe(series: DurationSeries, seconds: number): void {
    let bucket = 0
    while (bucket < this.bounds.length && seconds > (this.bounds[bucket] as number)) bucket += 1
    series.counts[bucket] = (series.counts[bucket] as number) + 1
    series.sum += seconds
    series.count += 1
  }

  /** What prom-client's registry renders: the same values its own Histogram would give. */
  get() {
    const values: RenderedValue[] = []
    for (const byRoute of this.byMethod.values()) {
      for (const byStatus of byRoute.values()) {
        for (const { labels, counts, sum, count } of byStatus.values()) {
          let cumulative = 0
          this.bounds.forEach((bound, i) => {
            cumulative += counts[i] as number
            values.push({
              metricName: `${this.name}_bucket`,
              labels: { le: bound, ...labels },
              value: cumulative,
            })
          })
          values.push({
            metricName: `${this.name}_bucket`,
            labels: { le: '+Inf', ...labels },
            value: count,
          })
          values.push({ metricName: `${this.name}_sum`, labels, value: sum })
          values.push({ metricName: `${this.name}_count`, labels, value: count })
        }
      }
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    }
  }

  reset(): void {
    this.byMethod.clear()
  }
}
