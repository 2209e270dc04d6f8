import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { ManualClock } from '../../testing/manual-clock.js'
import worker, { type WorkerEnv } from '../../workers/worker.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { createTestDatabase, type TestDatabase } from '../support/postgres.js'

/**
 * The Worker's `fetch`, called as workerd calls it (request, env bindings, execution context),
 * here in Node: postgres.js takes its Node sockets instead of `cloudflare:sockets`, everything
 * else is the Worker's own code against a real broker on loopback and a real Postgres. The same
 * bundle on real workerd is in test/deploy/wrangler.test.ts.
 */
describe('the Worker entry (workers/worker.ts), Workers-like in Node', () => {
  let db: TestDatabase
  let broker: RunningBroker
  let env: WorkerEnv
  const pending: Promise<unknown>[] = []
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) }

  beforeAll(async () => {
    db = await createTestDatabase('worker')
    await runMigrations(db.sql)
    ;({ broker } = await startTestBroker(staticBrokerEnv(db)))
    env = {
      LAKEBASE_BROKER_URL: broker.url,
      LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
      PGSSLMODE: 'disable',
      TRUST_FORWARDED_HEADERS: 'true',
      LOG_LEVEL: 'silent',
      // A binding that is not a string (a KV namespace, say) is not a setting.
      SOME_KV: { get: () => null },
    }
  })
  afterAll(async () => {
    await Promise.allSettled(pending)
    await broker?.close()
    await db?.drop()
  })

  const call = (path: string, init: RequestInit & { user?: string } = {}, bindings = env) =>
    worker.fetch(
      new Request(`https://functions.example.workers.dev${path}`, {
        ...init,
        headers: {
          'content-type': 'application/json',
          ...(init.user ? { 'x-forwarded-email': init.user } : {}),
        },
      }),
      bindings,
      ctx,
    )

  it('answers /api/health', async () => {
    const response = await call('/api/health')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  it('round-trips a preference per user, and closes each request’s connection after it', async () => {
    const before = pending.length
    const put = await call('/api/preferences/theme', {
      method: 'PUT',
      user: 'alice@example.com',
      body: JSON.stringify({ preference_value: { mode: 'dark' } }),
    })
    expect(put.status).toBe(201)
    const read = await call('/api/preferences/theme', { user: 'alice@example.com' })
    expect(await read.json()).toMatchObject({
      user_id: 'alice@example.com',
      preference_value: { mode: 'dark' },
    })
    expect((await call('/api/preferences/theme', { user: 'bob@example.com' })).status).toBe(404)
    expect(pending.length - before).toBe(3)
    await Promise.all(pending.slice(before))
  })

  it('reuses the isolate’s credential until the broker’s refresh point', async () => {
    const metricsBefore = await (await fetch(`${broker.url}/metrics`)).text()
    expect(requestsServed(metricsBefore)).toBeGreaterThan(0)
    for (let i = 0; i < 3; i++) await call('/api/preferences', { user: 'alice@example.com' })
    const metricsAfter = await (await fetch(`${broker.url}/metrics`)).text()
    expect(requestsServed(metricsAfter)).toBe(requestsServed(metricsBefore))
  })

  it('answers 503 LAKEBASE_NOT_CONFIGURED without the broker bindings, naming them', async () => {
    const response = await call('/api/health', {}, { LAKEBASE_BROKER_URL: 'https://b.example' })
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({
      detail: {
        error_code: 'LAKEBASE_NOT_CONFIGURED',
        message: expect.stringContaining('LAKEBASE_BROKER_TOKEN'),
      },
    })
  })

  it('refuses a broker URL that is plain http to a remote host', async () => {
    const response = await call(
      '/api/health',
      {},
      { ...env, LAKEBASE_BROKER_URL: 'http://broker.example.com' },
    )
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({
      detail: { message: expect.stringContaining('https://') },
    })
  })
})

/** The broker's count of credential requests answered (any status), from its metrics. */
function requestsServed(metrics: string): number {
  return metrics
    .split('\n')
    .filter((line) => /^lakebase_broker_requests_total\{/.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0)
}

describe('the Worker’s logs', () => {
  let lakebase: LakebaseLike
  let broker: RunningBroker
  const brokerClock = new ManualClock(Date.now())
  /** What the Worker wrote to the console, where workerd records a Worker's logs. */
  const lines: string[] = []
  const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) }

  beforeAll(async () => {
    lakebase = await lakebaseLike({ lifetimeS: 3600 })
    ;({ broker } = await startTestBroker(lakebase.brokerEnv, { clock: brokerClock }))
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '))
    })
  })
  afterAll(async () => {
    vi.restoreAllMocks()
    await broker?.close()
    await lakebase?.close()
  })

  it('go through the redacting logger, and hold none of the tokens minted for it', async () => {
    const env: WorkerEnv = {
      LAKEBASE_BROKER_URL: broker.url,
      LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
      PGSSLMODE: 'disable',
      LOG_LEVEL: 'trace',
    }
    const health = () =>
      worker.fetch(
        new Request('https://functions.example.workers.dev/api/health/database'),
        env,
        ctx,
      )
    expect((await health()).status).toBe(200)

    // The broker rotates; the Worker still holds the old token, which Postgres now refuses at
    // login: the Worker logs the refusal, fetches the new token, and answers.
    const cache = broker.caches.get('default')
    await brokerClock.advance((cache?.status().refreshAt ?? Number.NaN) - brokerClock.now())
    // The broker holds the new token once the workspace answered, which the strict Postgres
    // does only after the token became the role's password (the kit lists it a moment before).
    await vi.waitFor(() => expect(cache?.status().lastSuccessAt).toBe(brokerClock.now()), {
      timeout: 10_000,
    })
    expect(lakebase.workspace.credentials).toHaveLength(2)
    expect((await health()).status).toBe(200)

    const logged = lines.join('\n')
    expect(logged).toContain('"failure":"auth"')
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ name: 'functions' })
    const secrets = [...lakebase.workspace.minted, TEST_CLIENT_TOKEN]
    expect(secrets.length).toBeGreaterThanOrEqual(3)
    for (const secret of secrets) expect(logged).not.toContain(secret)
  })
})
