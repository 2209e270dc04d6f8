import {
  type Attributes,
  type BatchObservableResult,
  type Counter,
  type Histogram,
  type MeterProvider,
  metrics,
  type ObservableGauge,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import { sqlstateOf } from './sqlstate.js'

/**
 * OpenTelemetry for the broker and the drivers, on `@opentelemetry/api` alone: every call is the
 * API's no-op until the application registers an SDK. Tracer and meter are looked up on the global
 * API at each use, so an SDK registered after this module was imported is used all the same.
 *
 * Names follow `@databricks/lakebase` where the meaning is the same (`lakebase.query`,
 * `lakebase.query.duration`, `lakebase.token.refresh.duration`, `lakebase.pool.connections.*`);
 * attributes follow the OpenTelemetry database conventions. No attribute ever carries a parameter
 * value, a password or a token.
 */
export const INSTRUMENTATION_SCOPE = 'lakebase-broker'

/** Span names. */
export const SPANS = {
  /** One credential fetch: the broker's from upstream, or a client's from the broker. */
  refresh: 'lakebase.credential.refresh',
  /** One statement through `createSql` or `createPool`, retries included. */
  query: 'lakebase.query',
} as const

/** Metric names; the first four are `@databricks/lakebase`'s, with the same meaning and unit. */
export const METRICS = {
  queryDuration: 'lakebase.query.duration',
  refreshDuration: 'lakebase.token.refresh.duration',
  poolTotal: 'lakebase.pool.connections.total',
  poolIdle: 'lakebase.pool.connections.idle',
  poolWaiting: 'lakebase.pool.connections.waiting',
  /** Ours: refreshes by `outcome` (`success`, `failure`). */
  refreshes: 'lakebase.credential.refreshes',
  /** Ours: seconds until the held credential expires (0 when none is valid). */
  timeToExpiry: 'lakebase.credential.time_to_expiry',
} as const

/** Who holds a credential: the broker (fetched upstream) or a client (fetched from the broker). */
export type Holder = 'broker' | 'client'
export type Driver = 'postgres' | 'pg'

/** A pool's figures, as its driver counts them; what a driver does not count is left out. */
export interface PoolFigures {
  total: number
  idle?: number
  waiting?: number
}

interface Instruments {
  queryDuration: Histogram
  refreshDuration: Histogram
  refreshes: Counter
}

/** Durations of statements and refreshes, ms: `@databricks/lakebase`'s unit for these names. */
const DURATION_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]
const POSTGRESQL = 'postgresql'
/** A SQLSTATE (classes start with a digit, or are HV, P0, XX, F0), not a driver code like EPIPE. */
const SQLSTATE = /^([0-9][0-9A-Z]|HV|P0|XX|F0)[0-9A-Z]{3}$/

let made: { provider: MeterProvider; instruments: Instruments } | undefined

/**
 * The instruments on the current global meter provider, made once per provider (never per
 * query): the metrics API has no proxy, so instruments taken before an SDK was registered would
 * stay no-ops forever.
 */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider()
  if (made?.provider === provider) return made.instruments
  const meter = provider.getMeter(INSTRUMENTATION_SCOPE)
  const advice = { explicitBucketBoundaries: DURATION_BUCKETS_MS }
  const instruments: Instruments = {
    queryDuration: meter.createHistogram(METRICS.queryDuration, {
      description: 'Duration of statements through createSql and createPool, retries included',
      unit: 'ms',
      advice,
    }),
    refreshDuration: meter.createHistogram(METRICS.refreshDuration, {
      description: 'Duration of credential refreshes',
      unit: 'ms',
      advice,
    }),
    refreshes: meter.createCounter(METRICS.refreshes, {
      description: 'Credential refreshes by outcome',
    }),
  }
  const gauge = (name: string, description: string, unit?: string) =>
    meter.createObservableGauge(name, unit ? { description, unit } : { description })
  const pool = {
    total: gauge(METRICS.poolTotal, 'Total connections in the pool'),
    idle: gauge(METRICS.poolIdle, 'Idle connections in the pool'),
    waiting: gauge(METRICS.poolWaiting, 'Clients waiting for a connection'),
  }
  meter.addBatchObservableCallback((result) => observePools(result, pool), Object.values(pool))
  const expiry = gauge(METRICS.timeToExpiry, 'Seconds until the held credential expires', 's')
  meter.addBatchObservableCallback((result) => observeExpiry(result, expiry), [expiry])
  made = { provider, instruments }
  return instruments
}

interface Watched<T extends object, R> {
  ref: WeakRef<T>
  attributes: Attributes
  read: (owner: T) => R
}

// biome-ignore lint/suspicious/noExplicitAny: each entry reads its own owner's type
type AnyWatched<R> = Watched<any, R>
const pools = new Set<AnyWatched<PoolFigures | undefined>>()
const credentials = new Set<AnyWatched<number | undefined>>()
/** An owner that is collected without being closed drops out of the gauges by itself. */
const forgotten =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<() => void>((unwatch) => unwatch())
    : undefined

function watch<T extends object, R>(
  set: Set<AnyWatched<R>>,
  owner: T,
  attributes: Attributes,
  read: (owner: T) => R,
): () => void {
  // A runtime without weak references (an old Workers compatibility date) reports no gauges.
  if (typeof WeakRef !== 'function' || !forgotten) return () => {}
  const entry: Watched<T, R> = { ref: new WeakRef(owner), attributes, read }
  set.add(entry)
  const unwatch = () => set.delete(entry)
  forgotten.register(owner, unwatch, entry)
  // Makes the gauges if an SDK is there already, so they appear before the first statement.
  instruments()
  return () => {
    unwatch()
    forgotten.unregister(entry)
  }
}

/**
 * Reports a pool in the `lakebase.pool.connections.*` gauges until the returned function is called
 * (or the pool is collected). `read` gets the pool back, so the registry never holds it strongly.
 */
export function watchPool<T extends object>(
  pool: T,
  labels: { driver: Driver; target: string },
  read: (pool: T) => PoolFigures | undefined,
): () => void {
  return watch(pools, pool, attributesOf(labels), read)
}

/**
 * Reports a credential holder in `lakebase.credential.time_to_expiry`; `expiresAt` reads the
 * expiry (epoch ms) of the credential it would hand out, undefined when it has none.
 */
export function watchCredential<T extends object>(
  holder: T,
  labels: { holder: Holder; target: string },
  expiresAt: (holder: T) => number | undefined,
): () => void {
  return watch(credentials, holder, attributesOf(labels), expiresAt)
}

function attributesOf(labels: { driver?: Driver; holder?: Holder; target: string }): Attributes {
  const attributes: Attributes = { 'lakebase.target': labels.target }
  if (labels.driver) attributes['lakebase.driver'] = labels.driver
  if (labels.holder) attributes['lakebase.credential.holder'] = labels.holder
  return attributes
}

/** Pools with the same attributes (two pools on one target) are added up. */
function observePools(
  result: BatchObservableResult,
  gauges: Record<keyof PoolFigures, ObservableGauge>,
): void {
  const sums = new Map<string, { attributes: Attributes; figures: Required<PoolFigures> }>()
  const counted = new Map<string, Set<keyof PoolFigures>>()
  for (const entry of pools) {
    const owner = entry.ref.deref()
    const figures = owner && entry.read(owner)
    if (!figures) continue
    const key = JSON.stringify(entry.attributes)
    const sum = sums.get(key) ?? {
      attributes: entry.attributes,
      figures: { total: 0, idle: 0, waiting: 0 },
    }
    const has = counted.get(key) ?? new Set()
    for (const name of ['total', 'idle', 'waiting'] as const) {
      const value = figures[name]
      if (value === undefined) continue
      sum.figures[name] += value
      has.add(name)
    }
    sums.set(key, sum)
    counted.set(key, has)
  }
  for (const [key, { attributes, figures }] of sums) {
    for (const name of counted.get(key) ?? [])
      result.observe(gauges[name], figures[name], attributes)
  }
}

/** Holders with the same attributes (several clients of one target) report the soonest expiry. */
function observeExpiry(result: BatchObservableResult, gauge: ObservableGauge): void {
  const soonest = new Map<string, { attributes: Attributes; seconds: number }>()
  const now = Date.now()
  for (const entry of credentials) {
    const owner = entry.ref.deref()
    if (!owner) continue
    const expiresAt = entry.read(owner)
    const seconds = expiresAt === undefined ? 0 : Math.max(0, (expiresAt - now) / 1000)
    const key = JSON.stringify(entry.attributes)
    const known = soonest.get(key)
    if (!known || seconds < known.seconds)
      soonest.set(key, { attributes: entry.attributes, seconds })
  }
  for (const { attributes, seconds } of soonest.values()) result.observe(gauge, seconds, attributes)
}

/** A failure as an attribute: the upstream error class, SQLSTATE or error code, never a message. */
function errorType(err: unknown): string {
  const errorClass = (err as { errorClass?: unknown } | undefined)?.errorClass
  if (typeof errorClass === 'string') return errorClass
  return sqlstateOf(err) ?? (err instanceof Error ? err.name : 'unknown')
}

/**
 * Runs one credential fetch in a `lakebase.credential.refresh` span (active, so the upstream
 * calls under it nest) and records its duration and outcome.
 */
export function traceRefresh<T>(
  holder: Holder,
  target: string,
  fetch: () => Promise<T>,
): Promise<T> {
  const attributes = attributesOf({ holder, target })
  const started = performance.now()
  return trace
    .getTracer(INSTRUMENTATION_SCOPE)
    .startActiveSpan(SPANS.refresh, { attributes }, async (span) => {
      const { refreshDuration, refreshes } = instruments()
      try {
        const value = await fetch()
        refreshes.add(1, { ...attributes, outcome: 'success' })
        return value
      } catch (err) {
        const type = errorType(err)
        span.setAttribute('error.type', type)
        span.setStatus({ code: SpanStatusCode.ERROR })
        refreshes.add(1, { ...attributes, outcome: 'failure', 'error.type': type })
        throw err
      } finally {
        refreshDuration.record(performance.now() - started, attributes)
        span.end()
      }
    })
}

const QUERY_SPAN_OPTIONS = { kind: SpanKind.CLIENT }
/** A succeeded statement's attributes, made once per driver: every statement records them. */
const SUCCEEDED: Record<Driver, Attributes> = {
  postgres: { 'db.system.name': POSTGRESQL, 'lakebase.driver': 'postgres' },
  pg: { 'db.system.name': POSTGRESQL, 'lakebase.driver': 'pg' },
}
let tracerProvider: TracerProvider | undefined
let tracer: Tracer | undefined

/**
 * The tracer for statements, got once per global tracer provider (without an SDK the API makes
 * a new proxy tracer on every `getTracer`). The provider object changes when one is registered
 * after `trace.disable()`; a provider registered later otherwise is found by the proxy itself.
 */
function queryTracer(): Tracer {
  const provider = trace.getTracerProvider()
  if (provider !== tracerProvider || tracer === undefined) {
    tracerProvider = provider
    tracer = provider.getTracer(INSTRUMENTATION_SCOPE)
  }
  return tracer
}

/**
 * Runs one statement in a `lakebase.query` span and records its duration. `text` (the statement
 * template, `$n` where values go) is asked for only when the span is recorded: without an SDK a
 * statement costs the API's no-op span and a no-op histogram record.
 */
export function traceQuery<T>(
  driver: Driver,
  text: () => string,
  run: () => Promise<T>,
): Promise<T> {
  const span = queryTracer().startSpan(SPANS.query, QUERY_SPAN_OPTIONS)
  if (span.isRecording()) {
    span.setAttributes({
      'db.system.name': POSTGRESQL,
      'db.query.text': text(),
      'lakebase.driver': driver,
    })
  }
  const started = performance.now()
  return run().then(
    (value) => {
      instruments().queryDuration.record(performance.now() - started, SUCCEEDED[driver])
      span.end()
      return value
    },
    (err: unknown) => {
      const code = sqlstateOf(err)
      const failed: Attributes = {
        'db.system.name': POSTGRESQL,
        'lakebase.driver': driver,
        'error.type': errorType(err),
      }
      // The SQLSTATE only: a Postgres message can quote a value from the statement.
      if (code !== undefined && SQLSTATE.test(code)) failed['db.response.status_code'] = code
      instruments().queryDuration.record(performance.now() - started, failed)
      if (span.isRecording()) {
        span.setAttributes(failed)
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
      throw err
    },
  )
}
