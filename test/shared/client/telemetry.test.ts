import { context, metrics, trace } from '@opentelemetry/api'
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks'
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectBroker } from '../../../shared/client/broker-client.js'
import { LakebaseError } from '../../../shared/client/errors.js'
import { METRICS, SPANS } from '../../../shared/client/telemetry.js'
import { createPool } from '../../../shared/pg/create-pool.js'
import { createSql } from '../../../shared/postgres/create-sql.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../../support/broker.js'
import { createTestDatabase } from '../../support/postgres.js'
import { rejectionOf } from '../../support/rejection.js'
import { waitFor } from '../../support/wait-for.js'

const PASSWORD = 'test-superuser-password'
/** A parameter value that must never reach a span or a metric. */
const SECRET_VALUE = 'value-7f3a9c-not-for-telemetry'

/** A reader the test collects from when it wants to. */
class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

let spans: InMemorySpanExporter
let reader: OnDemandReader
const cleanup: (() => Promise<unknown>)[] = []

beforeEach(() => {
  spans = new InMemorySpanExporter()
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  )
  context.setGlobalContextManager(new AsyncHooksContextManager().enable())
  reader = new OnDemandReader()
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
})

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
  trace.disable()
  context.disable()
  metrics.disable()
})

/** A broker on a fresh real database (static provider: the superuser) and a client of it. */
async function stack() {
  const db = await createTestDatabase('otel')
  cleanup.push(() => db.drop())
  const { broker } = await startTestBroker({
    PGUSER: 'postgres',
    PGPASSWORD: PASSWORD,
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: db.database,
    PGSSLMODE: 'disable',
  })
  cleanup.push(() => broker.close())
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  return { broker, credentials }
}

async function collect(): Promise<ResourceMetrics> {
  const { resourceMetrics, errors } = await reader.collect()
  expect(errors).toEqual([])
  return resourceMetrics
}

function points(resource: ResourceMetrics, name: string): DataPoint<unknown>[] {
  const found = resource.scopeMetrics
    .filter((s) => s.scope.name === 'lakebase-broker')
    .flatMap((s) => s.metrics)
    .filter((m) => m.descriptor.name === name)
  return found.flatMap((m) => m.dataPoints as DataPoint<unknown>[])
}

const named = (name: string) => spans.getFinishedSpans().filter((s) => s.name === name)

/** Everything exported, as text, to search for values that must not be there. */
function exported(resource: ResourceMetrics): string {
  const spanText = spans.getFinishedSpans().map((s: ReadableSpan) => ({
    name: s.name,
    attributes: s.attributes,
    status: s.status,
    events: s.events,
  }))
  return JSON.stringify({ spanText, resource: resource.scopeMetrics })
}

describe('OpenTelemetry', () => {
  it('traces the broker refresh and the client fetch, and gauges the time to expiry', async () => {
    const { broker, credentials } = await stack()
    await broker.caches.get('default')?.get()
    await credentials.get()

    const [brokerSpan] = named(SPANS.refresh).filter(
      (s) => s.attributes['lakebase.credential.holder'] === 'broker',
    )
    expect(brokerSpan?.attributes['lakebase.target']).toBe('default')
    const clientSpan = named(SPANS.refresh).find(
      (s) => s.attributes['lakebase.credential.holder'] === 'client',
    )
    expect(clientSpan?.attributes['lakebase.target']).toBe('default')
    // The client's fetch is the parent of nothing the broker did: it is another span.
    expect(clientSpan?.spanContext().spanId).not.toBe(brokerSpan?.spanContext().spanId)

    const resource = await collect()
    const outcomes = points(resource, METRICS.refreshes).map((p) => [
      p.attributes['lakebase.credential.holder'],
      p.attributes.outcome,
      p.value,
    ])
    expect(outcomes).toEqual(
      expect.arrayContaining([
        ['broker', 'success', 1],
        ['client', 'success', 1],
      ]),
    )
    const durations = points(resource, METRICS.refreshDuration)
    expect(durations.map((p) => (p.value as Histogram).count)).toEqual([1, 1])
    const expiry = points(resource, METRICS.timeToExpiry)
    for (const holder of ['broker', 'client']) {
      const point = expiry.find((p) => p.attributes['lakebase.credential.holder'] === holder)
      // The static provider's credential lasts an hour.
      expect(point?.value).toBeGreaterThan(3000)
      expect(point?.value).toBeLessThanOrEqual(3600)
    }
    const text = exported(resource)
    expect(text).not.toContain(PASSWORD)
    expect(text).not.toContain(TEST_CLIENT_TOKEN)
  })

  it('records a failed client fetch with its error code', async () => {
    const credentials = connectBroker({ url: 'http://127.0.0.1:1', token: TEST_CLIENT_TOKEN })
    const err = await rejectionOf(credentials.get(), LakebaseError)
    expect(err.code).toBe('LAKEBASE_NOT_CONFIGURED')
    const [span] = named(SPANS.refresh)
    expect(span?.status.code).toBe(2) // SpanStatusCode.ERROR
    expect(span?.attributes['error.type']).toBe('LAKEBASE_NOT_CONFIGURED')
    const failures = points(await collect(), METRICS.refreshes)
    expect(failures.map((p) => [p.attributes.outcome, p.value])).toEqual([['failure', 1]])
  })

  it('traces createSql statements by template, with the SQLSTATE on failure', async () => {
    const { credentials } = await stack()
    const sql = createSql({ credentials, env: {}, max: 2 })
    cleanup.push(() => sql.end())
    const [row] = await sql`select ${SECRET_VALUE}::text as v`
    expect(row?.v).toBe(SECRET_VALUE)
    const err = await rejectionOf(sql`select ${SECRET_VALUE}::int as n`, Error)
    expect((err as { code?: string }).code).toBe('22P02')

    const [ok, failed] = named(SPANS.query)
    expect(ok?.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.query.text': 'select $1::text as v',
      'lakebase.driver': 'postgres',
    })
    expect(ok?.status.code).not.toBe(2)
    expect(failed?.attributes).toMatchObject({
      'db.query.text': 'select $1::int as n',
      'db.response.status_code': '22P02',
    })
    expect(failed?.status.code).toBe(2)

    const resource = await collect()
    const durations = points(resource, METRICS.queryDuration)
    expect(
      durations.map((p) => [p.attributes['db.response.status_code'], (p.value as Histogram).count]),
    ).toEqual(
      expect.arrayContaining([
        [undefined, 1],
        ['22P02', 1],
      ]),
    )
    const [total] = points(resource, METRICS.poolTotal).filter(
      (p) => p.attributes['lakebase.driver'] === 'postgres',
    )
    expect(total?.value).toBeGreaterThanOrEqual(1)
    // Postgres's own message for 22P02 quotes the value; nothing of it is exported.
    expect((err as Error).message).toContain(SECRET_VALUE)
    const text = exported(resource)
    expect(text).not.toContain(SECRET_VALUE)
    expect(text).not.toContain(PASSWORD)
    expect(text).not.toContain(TEST_CLIENT_TOKEN)
  })

  it('traces createPool queries and gauges total, idle and waiting from pg', async () => {
    const { credentials } = await stack()
    const pool = createPool({ credentials, env: {}, max: 1 })
    cleanup.push(() => pool.end())
    await pool.query('select $1::text as v', [SECRET_VALUE])
    const err = await rejectionOf(pool.query('select $1::int as n', [SECRET_VALUE]), Error)
    expect((err as { code?: string }).code).toBe('22P02')
    const [ok, failed] = named(SPANS.query)
    expect(ok?.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.query.text': 'select $1::text as v',
      'lakebase.driver': 'pg',
    })
    expect(failed?.attributes['db.response.status_code']).toBe('22P02')

    // One client held, one caller waiting for it: the gauges read pg's own counts.
    const held = await pool.connect()
    const waiting = pool.query('select 1')
    // The query asks the broker client for the credential before it queues in pg.
    await waitFor(() => pool.waitingCount > 0, { what: 'the query waits for a client' })
    const pg = (resource: ResourceMetrics, name: string) =>
      points(resource, name).find((p) => p.attributes['lakebase.driver'] === 'pg')?.value
    const busy = await collect()
    expect([
      pg(busy, METRICS.poolTotal),
      pg(busy, METRICS.poolIdle),
      pg(busy, METRICS.poolWaiting),
    ]).toEqual([1, 0, 1])
    held.release()
    await waiting
    const quiet = await collect()
    expect([
      pg(quiet, METRICS.poolTotal),
      pg(quiet, METRICS.poolIdle),
      pg(quiet, METRICS.poolWaiting),
    ]).toEqual([1, 1, 0])
    const text = exported(quiet)
    expect(text).not.toContain(SECRET_VALUE)
    expect(text).not.toContain(PASSWORD)
  })

  it('uses an SDK registered after the client was made', async () => {
    const { credentials } = await stack()
    metrics.disable()
    trace.disable()
    const sql = createSql({ credentials, env: {}, max: 1 })
    cleanup.push(() => sql.end())
    await sql`select 1`
    expect(named(SPANS.query)).toEqual([])

    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    )
    reader = new OnDemandReader()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    await sql`select 2`
    expect(named(SPANS.query).map((s) => s.attributes['db.query.text'])).toEqual(['select 2'])
    const durations = points(await collect(), METRICS.queryDuration)
    expect(durations.map((p) => (p.value as Histogram).count)).toEqual([1])
  })
})
