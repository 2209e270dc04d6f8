import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Hono } from 'hono'
import { brokerCredentials, LakebaseOptionError } from 'lakebase-broker'
import { type InProcessBroker, startBroker } from 'lakebase-broker/broker'
import { type LakebaseEnv, lakebase, lakebaseErrorHandler } from 'lakebase-broker/hono'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { tempDir } from '../../support/broker.js'
import { captureLogs } from '../../support/capture-logs.js'
import { freePort } from '../../support/free-port.js'
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js'

let db: TestDatabase
let broker: InProcessBroker
let pgEnv: Record<string, string>

beforeAll(async () => {
  db = await createTestDatabase('hono')
  pgEnv = {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: db.database,
    PGUSER: 'postgres',
    PGPASSWORD: inject('postgres').password,
    PGSSLMODE: 'disable',
  }
  broker = await startBroker({ env: pgEnv, logger: captureLogs('broker').logger })
})

afterAll(async () => {
  await broker?.stop()
  await db?.drop()
})

function appWith(options: Parameters<typeof lakebase>[0]) {
  const app = new Hono<LakebaseEnv>()
  app.use('/api/*', lakebase(options))
  app.get('/api/me', async (c) => {
    const [row] = await c.var.sql<{ role: string }[]>`select current_user as role`
    return c.json({ user: c.var.user, role: row?.role })
  })
  app.onError(lakebaseErrorHandler({ logger: captureLogs('app').logger }))
  return app
}

describe('startBroker', () => {
  it('listens on a free loopback port with an in-memory token when none is configured', () => {
    expect(broker.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(broker.url).not.toBe('http://127.0.0.1:8990')
    expect(broker.token.length).toBeGreaterThanOrEqual(40)
  })

  it('serves the provider named by env to a client holding its token', async () => {
    const credentials = brokerCredentials({ url: broker.url, token: broker.token })
    const credential = await credentials.get()
    expect(credential).toMatchObject({ user: 'postgres', source: 'static', database: db.database })
  })

  it('refuses a wrong env option with the typed error', async () => {
    await expect(startBroker({ env: 'PGHOST=x' as never })).rejects.toBeInstanceOf(
      LakebaseOptionError,
    )
  })
})

describe('lakebase() middleware', () => {
  it('gives c.var.sql logged in as the broker says, and the dev user as c.var.user', async () => {
    const credentials = brokerCredentials({ url: broker.url, token: broker.token })
    const app = appWith({ credentials, env: { ...pgEnv, LAKEBASE_DEV_USER: 'dev@example.com' } })
    const response = await app.request('/api/me')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ user: 'dev@example.com', role: 'postgres' })
  })

  it('takes the user from X-Forwarded-Email only when forwarded headers are trusted', async () => {
    const credentials = brokerCredentials({ url: broker.url, token: broker.token })
    const trusted = appWith({ credentials, env: pgEnv, trustForwardedHeaders: true })
    const alice = await trusted.request('/api/me', {
      headers: { 'x-forwarded-email': 'alice@example.com' },
    })
    expect(await alice.json()).toMatchObject({ user: 'alice@example.com' })
    const nobody = await trusted.request('/api/me')
    expect(nobody.status).toBe(401)
    expect(await nobody.json()).toMatchObject({ detail: { error_code: 'AUTH_REQUIRED' } })

    const untrusted = appWith({ credentials, env: pgEnv, devUser: 'me@example.com' })
    const spoofed = await untrusted.request('/api/me', {
      headers: { 'x-forwarded-email': 'alice@example.com' },
    })
    expect(await spoofed.json()).toMatchObject({ user: 'me@example.com' })
  })

  it('answers 503 with the error body at once when no credential can be had', async () => {
    const port = await freePort()
    const credentials = brokerCredentials({
      url: `http://127.0.0.1:${port}`,
      token: 'x'.repeat(20),
    })
    const app = appWith({ credentials, env: pgEnv })
    const started = performance.now()
    const response = await app.request('/api/me')
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await response.json()).toMatchObject({
      detail: { error_code: 'LAKEBASE_NOT_CONFIGURED', retry_after: 1 },
    })
  })

  it.each([
    [{ sql: 'postgres://x' }, 'sql'],
    [{ credentials: {} }, 'credentials'],
    [{ trustForwardedHeaders: 'yes' }, 'trustForwardedHeaders'],
    [{ devUser: ' ' }, 'devUser'],
  ])('refuses %j when built, naming the option', (options, option) => {
    expect(() => lakebase(options as never)).toThrow(LakebaseOptionError)
    expect(() => lakebase(options as never)).toThrow(new RegExp(`^${option}: `))
  })
})

describe('brokerCredentials()', () => {
  it('names the option, or the variable it came from, when one is wrong', () => {
    expect(() => brokerCredentials({ url: 'ftp://x' })).toThrow(/^url: /)
    expect(() => brokerCredentials({ env: { LAKEBASE_BROKER_URL: 'localhost:8990' } })).toThrow(
      /^url \(LAKEBASE_BROKER_URL\): /,
    )
    expect(() => brokerCredentials({ target: '../x', env: {} })).toThrow(/^target: /)
    expect(() => brokerCredentials({ timeoutMs: -1, env: {} })).toThrow(/^timeoutMs: /)
  })

  it('shares one client per broker, target and token within a process', () => {
    const env = { LAKEBASE_BROKER_URL: broker.url, LAKEBASE_BROKER_TOKEN: broker.token }
    expect(brokerCredentials({ env })).toBe(brokerCredentials({ env }))
    expect(brokerCredentials({ env, target: 'other' })).not.toBe(brokerCredentials({ env }))
  })

  it('reads the token file when it is first needed, so a client may start before the broker', async () => {
    const dir = await tempDir()
    try {
      const file = join(dir, 'lakebase-broker', 'token')
      const credentials = brokerCredentials({
        env: { LAKEBASE_BROKER_URL: broker.url, BROKER_TOKEN_FILE: file },
      })
      await expect(credentials.get()).rejects.toMatchObject({ code: 'LAKEBASE_NOT_CONFIGURED' })
      await mkdir(join(dir, 'lakebase-broker'), { recursive: true })
      await writeFile(file, `${broker.token}\n`, { mode: 0o600 })
      await expect(credentials.get()).resolves.toMatchObject({ user: 'postgres' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
