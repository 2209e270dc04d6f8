import { afterEach, describe, expect, inject, it } from 'vitest'
import { warnIfMigrationsPending } from '../../cli/serve-functions.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { startTestBroker, staticBrokerEnv } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { functionsProcess } from '../support/functions.js'
import { createTestDatabase } from '../support/postgres.js'
import { tcpProxy } from '../support/tcp-proxy.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** The functions on a fresh database through a real broker, optionally through a proxy port. */
async function functionsOn(options: { migrated: boolean; port?: number; max?: number }) {
  const db = await createTestDatabase('fnerr')
  cleanup.push(() => db.drop())
  if (options.migrated) await runMigrations(db.sql)
  const { broker } = await startTestBroker(staticBrokerEnv(db, options.port ?? db.port))
  cleanup.push(() => broker.close())
  const { database, app, logs } = functionsProcess({ brokerUrl: broker.url, max: options.max ?? 3 })
  cleanup.push(() => database.close())
  const call = (method: string, path: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: { 'x-forwarded-email': 'alice@example.com', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  return { db, database, logs, call }
}

describe('the functions on a database without migrations', () => {
  it('answer every data route 503 DATABASE_NOT_MIGRATED naming the migrate command, never 500', async () => {
    const { database, logs, call } = await functionsOn({ migrated: false })
    const requests: [string, string, unknown?][] = [
      ['GET', '/api/preferences'],
      ['GET', '/api/preferences/theme'],
      ['PUT', '/api/preferences/theme', { preference_value: { mode: 'dark-7c2e' } }],
      ['POST', '/api/preferences', { preference_key: 'theme', preference_value: { a: 1 } }],
      ['DELETE', '/api/preferences/theme'],
      ['POST', '/api/inference-logs', { endpoint_name: 'e', inputs: { q: 1 }, status: 'SUCCESS' }],
      ['GET', '/api/inference-logs'],
      ['GET', '/api/model-serving/logs'],
    ]
    const statuses: number[] = []
    for (let round = 0; round < 25; round++) {
      for (const [method, path, body] of requests) {
        const response = await call(method, path, body)
        statuses.push(response.status)
        const { detail } = (await response.json()) as {
          detail: { error_code: string; technical_details: { suggestion?: string } }
        }
        expect(detail.error_code).toBe('DATABASE_NOT_MIGRATED')
        expect(detail.technical_details.suggestion).toMatch(/npm run migrate/)
      }
    }
    expect(statuses.filter((s) => s === 500)).toEqual([])
    expect(new Set(statuses)).toEqual(new Set([503]))
    expect(logs.text()).not.toContain('dark-7c2e')
    expect(logs.text()).not.toContain('unexpected error')

    const health = await call('GET', '/api/health/database')
    expect(health.status).toBe(200)
    const body = (await health.json()) as { migrations: { applied: number; pending: number } }
    expect(body.migrations.applied).toBe(0)
    expect(body.migrations.pending).toBeGreaterThan(0)

    const startup = captureLogs('functions')
    await warnIfMigrationsPending(database, startup.logger)
    expect(startup.lines.filter((l) => l.includes('migrations are pending'))).toHaveLength(1)
  })

  it('warn about nothing and report 0 pending once migrated', async () => {
    const { database, call } = await functionsOn({ migrated: true })
    const body = (await (await call('GET', '/api/health/database')).json()) as {
      migrations: { pending: number; applied: number }
    }
    expect(body.migrations.pending).toBe(0)
    expect(body.migrations.applied).toBeGreaterThan(0)
    const startup = captureLogs('functions')
    await warnIfMigrationsPending(database, startup.logger)
    expect(startup.text()).not.toContain('migrations are pending')
  })
})

describe('a write whose connection drops after COMMIT, before its answer is read', () => {
  async function throughProxy() {
    const proxy = await tcpProxy(inject('postgres'))
    cleanup.push(() => proxy.close())
    await proxy.listen()
    // One connection, warmed up, so the statement the proxy drops the answer of is the write.
    const stack = await functionsOn({ migrated: true, port: proxy.port, max: 1 })
    expect((await stack.call('GET', '/api/preferences')).status).toBe(200)
    return { ...stack, proxy }
  }

  it('DELETE answers 503 with retry_after, never a 404 for the row it deleted', async () => {
    const { call, proxy, db, logs } = await throughProxy()
    expect(
      (await call('PUT', '/api/preferences/theme', { preference_value: { m: 1 } })).status,
    ).toBe(201)

    const lost = proxy.dropNextAnswer()
    const response = await call('DELETE', '/api/preferences/theme')
    await lost
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('5')
    expect(((await response.json()) as { detail: { error_code: string } }).detail.error_code).toBe(
      'DATABASE_UNAVAILABLE',
    )
    // It did commit (once): the row is gone.
    expect(await db.sql`select count(*)::int as n from user_preferences`).toEqual([{ n: 0 }])
    expect(logs.text()).toMatch(/"statement":"delete from .*"ran":true,"retry":false/)
  })

  it('an upsert that created its row answers 503, never 200', async () => {
    const { call, proxy, db, logs } = await throughProxy()
    const lost = proxy.dropNextAnswer()
    const response = await call('PUT', '/api/preferences/theme', {
      preference_value: { secret: 'lost-answer-value-19ab' },
    })
    await lost
    expect(response.status).toBe(503)
    expect(await db.sql`select preference_value from user_preferences`).toEqual([
      { preference_value: { secret: 'lost-answer-value-19ab' } },
    ])
    expect(logs.text()).not.toContain('lost-answer-value-19ab')
  })

  it('a read whose answer is lost is retried and answers as usual', async () => {
    const { call, proxy } = await throughProxy()
    expect(
      (await call('PUT', '/api/preferences/theme', { preference_value: { m: 2 } })).status,
    ).toBe(201)
    const lost = proxy.dropNextAnswer()
    const response = await call('GET', '/api/preferences/theme')
    await lost
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ preference_value: { m: 2 } })
  })
})
