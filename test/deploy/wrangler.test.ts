import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Ajv } from 'ajv'
// Wrangler's own local runtime: the workerd binary it ships, driven as `wrangler dev` drives it.
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { parse } from 'smol-toml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { createTestDatabase, type TestDatabase } from '../support/postgres.js'
import { ROOT } from '../support/process.js'

const run = promisify(execFile)
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler')
const tomlText = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')
// biome-ignore lint/suspicious/noExplicitAny: the parsed TOML document, navigated by the tests
const toml = (): any => structuredClone(parse(tomlText))
/** Wrangler without telemetry or update checks: the build must work offline. */
const WRANGLER_ENV = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_LOG: 'warn',
  NO_UPDATE_NOTIFIER: '1',
}

describe('wrangler.toml', () => {
  it('parses and validates against wrangler’s own config-schema.json, and a broken copy does not', () => {
    const schema = JSON.parse(
      readFileSync(join(ROOT, 'node_modules', 'wrangler', 'config-schema.json'), 'utf8'),
    ) as object
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema)
    const config = toml()
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true)

    const broken = toml()
    broken.compatability_date = broken.compatibility_date
    broken.vars = 'LAKEBASE_BROKER_URL=https://x'
    expect(validate(broken)).toBe(false)
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)
    expect(problems).toContain(' must NOT have additional properties')
    expect(problems).toContain('/vars must be object')
  })

  it('runs workers/worker.ts with nodejs_compat, and keeps the token out of [vars]', () => {
    const config = toml()
    expect(config.main).toBe('workers/worker.ts')
    expect(config.compatibility_flags).toContain('nodejs_compat')
    // nodejs_compat's node:* modules that postgres.js needs arrived with this date.
    expect(config.compatibility_date >= '2024-09-23').toBe(true)
    expect(config.vars.LAKEBASE_BROKER_URL).toMatch(/^https:\/\//)
    expect(config.vars.LAKEBASE_BROKER_TOKEN).toBeUndefined()
  })
})

describe('the Worker bundle (wrangler deploy --dry-run) on real workerd', () => {
  let outdir: string
  let db: TestDatabase
  let broker: RunningBroker
  let mf: Miniflare

  beforeAll(async () => {
    outdir = await tempDir('lakebase-worker-bundle-')
    await run(WRANGLER, ['deploy', '--dry-run', '--outdir', outdir], {
      cwd: ROOT,
      env: WRANGLER_ENV,
    })
    db = await createTestDatabase('workerd')
    await runMigrations(db.sql)
    ;({ broker } = await startTestBroker(staticBrokerEnv(db)))
    const config = toml()
    // Miniflare 5 (wrangler 4's) takes a worker config of its own; the familiar v4 options convert.
    mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: true,
        scriptPath: join(outdir, 'worker.js'),
        modulesRoot: outdir,
        compatibilityDate: config.compatibility_date,
        compatibilityFlags: config.compatibility_flags,
        bindings: {
          ...config.vars,
          // The loopback broker and database stand in for the HTTPS broker and Lakebase.
          LAKEBASE_BROKER_URL: broker.url,
          LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
          PGSSLMODE: 'disable',
          TRUST_FORWARDED_HEADERS: 'true',
          LOG_LEVEL: 'warn',
        },
      }),
    )
  }, 60_000)
  afterAll(async () => {
    await mf?.dispose()
    await broker?.close()
    await db?.drop()
  })

  it('bundles postgres.js’s workerd build (cloudflare:sockets) and pino’s browser build', () => {
    const bundle = readFileSync(join(outdir, 'worker.js'), 'utf8')
    const sources = readFileSync(join(outdir, 'worker.js.map'), 'utf8')
    expect(bundle).toContain('cloudflare:sockets')
    // postgres.js 4's `workerd` export: its one core, each connection's socket from
    // cloudflare:sockets (node:net stays imported, under nodejs_compat, but is not dialled).
    expect(sources).toContain('node_modules/postgres/src/cf.js')
    expect(sources).toContain('node_modules/pino/browser.js')
  })

  it('answers /api/health and round-trips a preference per user over Workers TCP sockets', async () => {
    const health = await mf.dispatchFetch('http://localhost/api/health')
    expect(await health.json()).toEqual({ status: 'ok' })

    const as = (email: string) => ({
      'content-type': 'application/json',
      'x-forwarded-email': email,
    })
    const created = await mf.dispatchFetch('http://localhost/api/preferences', {
      method: 'POST',
      headers: as('carol@example.com'),
      body: JSON.stringify({ preference_key: 'favorite_tables', preference_value: { t: ['a'] } }),
    })
    expect(created.status).toBe(201)
    const read = await mf.dispatchFetch('http://localhost/api/preferences/favorite_tables', {
      headers: as('carol@example.com'),
    })
    expect(await read.json()).toMatchObject({
      user_id: 'carol@example.com',
      preference_value: { t: ['a'] },
    })
    const other = await mf.dispatchFetch('http://localhost/api/preferences/favorite_tables', {
      headers: as('dave@example.com'),
    })
    expect(other.status).toBe(404)

    const database = await mf.dispatchFetch('http://localhost/api/health/database')
    expect(await database.json()).toMatchObject({
      status: 'ok',
      credential: { source: 'static', user: 'postgres' },
      pool: { max: 1 },
    })
  })
})
