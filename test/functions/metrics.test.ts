import { Histogram, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { RequestDurations } from '../../functions/metrics.js'
import { TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

async function stack(): Promise<FunctionsStack> {
  const s = await startFunctionsStack()
  cleanup.push(() => s.close())
  return s
}

/** The value of one series in Prometheus text, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const USER = 'alice-metrics-5d1e@example.com'
const VALUE = 'dark-mode-value-83b0c1'

describe('GET /metrics on the functions', () => {
  it('times requests by route template and status, never by path, user or value', async () => {
    const { call } = await stack()
    expect(
      (
        await call('PUT', '/api/preferences/theme', {
          user: USER,
          body: { preference_value: { mode: VALUE } },
        })
      ).status,
    ).toBe(201)
    expect((await call('GET', '/api/preferences/theme', { user: USER })).status).toBe(200)
    expect((await call('GET', '/api/preferences/theme', { user: USER })).status).toBe(200)
    // Unset for this user; a key outside the allowed set would be a 400.
    expect((await call('GET', '/api/preferences/favorite_tables', { user: USER })).status).toBe(404)
    expect((await call('GET', '/api/preferences/not-a-key-1', { user: USER })).status).toBe(400)
    expect((await call('GET', '/api/preferences', { user: null })).status).toBe(401)

    // No identity needed for the metrics themselves.
    const response = await call('GET', '/metrics', { user: null })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/plain')
    const text = await response.text()
    const count = (method: string, route: string, status: number) =>
      sample(
        text,
        `lakebase_functions_http_request_duration_seconds_count{method="${method}",route="${route}",status="${status}"}`,
      )
    expect(count('PUT', '/api/preferences/:key', 201)).toBe(1)
    expect(count('GET', '/api/preferences/:key', 200)).toBe(2)
    expect(count('GET', '/api/preferences/:key', 404)).toBe(1)
    expect(count('GET', '/api/preferences/:key', 400)).toBe(1)
    expect(text).toMatch(/route="[^"]*",status="401"/)
    for (const secret of [
      USER,
      VALUE,
      'missing-key-1',
      'test-superuser-password',
      TEST_CLIENT_TOKEN,
    ]) {
      expect(text).not.toContain(secret)
    }
  })

  it('reports the pool as the driver counts it', async () => {
    const { call, database } = await stack()
    expect((await call('GET', '/api/preferences')).status).toBe(200)
    const text = await (await call('GET', '/metrics')).text()
    const stats = database.stats()
    expect(stats.open).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'lakebase_functions_pool_open_connections')).toBe(stats.open)
    expect(sample(text, 'lakebase_functions_pool_max_connections')).toBe(5)
    expect(sample(text, 'lakebase_functions_pool_logins_total')).toBe(stats.logins)
    expect(sample(text, 'lakebase_functions_pool_closes_total')).toBe(stats.closes)
  })

  it('counts database errors by their class in the SQLSTATE table', async () => {
    const { call, db } = await stack()
    expect((await call('GET', '/api/preferences')).status).toBe(200)
    // The table gone: every read answers 503 DATABASE_NOT_MIGRATED (SQLSTATE 42P01).
    await db.sql`drop table user_preferences cascade`
    for (let i = 0; i < 3; i++) {
      const response = await call('GET', '/api/preferences')
      expect(response.status).toBe(503)
      expect(
        ((await response.json()) as { detail: { error_code: string } }).detail.error_code,
      ).toBe('DATABASE_NOT_MIGRATED')
    }
    const text = await (await call('GET', '/metrics')).text()
    expect(sample(text, 'lakebase_functions_database_errors_total{class="not-migrated"}')).toBe(3)
    // A 404 or a 401 is no database error.
    expect(text).not.toMatch(/lakebase_functions_database_errors_total\{class="other"\}/)
  })

  it('keeps one registry per app: two apps count their own requests', async () => {
    const s = await stack()
    const other = s.variant({})
    await s.call('GET', '/api/health')
    const text = await (await other.call('GET', '/metrics')).text()
    expect(text).not.toContain('route="/api/health"')
  })
})

describe('RequestDurations', () => {
  it("renders exactly what prom-client's own Histogram renders for the same observations", async () => {
    const bounds = [0.001, 0.01, 0.1, 1]
    const observations: [string, string, number, number][] = [
      ['GET', '/api/preferences', 200, 0.0004],
      ['GET', '/api/preferences', 200, 0.001],
      ['GET', '/api/preferences', 200, 0.05],
      ['GET', '/api/preferences', 503, 2.5],
      ['PUT', '/api/preferences/:key', 201, 0.02],
    ]
    const ours = new Registry()
    const durations = new RequestDurations('t_seconds', 'help text', bounds)
    ours.registerMetric(durations as never)
    const theirs = new Registry()
    const histogram = new Histogram({
      name: 't_seconds',
      help: 'help text',
      labelNames: ['method', 'route', 'status'],
      buckets: bounds,
      registers: [theirs],
    })
    for (const [method, route, status, seconds] of observations) {
      durations.observe(durations.series(method, route, status), seconds)
      histogram.observe({ method, route, status: String(status) }, seconds)
    }
    const text = await ours.metrics()
    expect(text).toBe(await theirs.metrics())
    expect(text).toContain(
      't_seconds_bucket{le="0.001",method="GET",route="/api/preferences",status="200"} 2',
    )
    durations.reset()
    expect(await ours.metrics()).not.toContain('t_seconds_bucket')
  })
})
