import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { tempDir } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { ROOT, type Spawned, spawnNode } from '../support/process.js'

/**
 * The production entry as Databricks Apps runs it: `npm run build`, then the compiled
 * dist/cli/commands/serve.js with exactly what the Apps runtime injects (OAuth M2M service principal,
 * PG* without a password, DATABRICKS_APP_PORT/NAME) plus app.yaml's env, against a workspace on
 * loopback whose every minted token becomes the service principal's Postgres password. The role
 * has only what an app's database resource grants: CONNECT and CREATE on the database.
 */
const run = promisify(execFile)
const appYaml = parse(readFileSync(join(ROOT, 'app.yaml'), 'utf8')) as {
  env: Array<{ name: string; value?: string; valueFrom?: string }>
}
const appYamlEnv = Object.fromEntries(
  appYaml.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
)
const INSTANCE = appYamlEnv.LAKEBASE_INSTANCE_NAME as string

type Preference = { user_id: string; preference_key: string; preference_value: unknown }

describe('npm run serve (dist/cli/commands/serve.js) in a Databricks-Apps-like environment', () => {
  let lakebase: LakebaseLike
  let servicePrincipal: string
  let xdg: string
  const children: Spawned[] = []

  beforeAll(async () => {
    // Databricks Apps runs the build script after npm install; so does this test, once.
    await run('npm', ['run', 'build'], { cwd: ROOT })
    servicePrincipal = randomUUID()
    lakebase = await lakebaseLike({
      lifetimeS: 3600,
      identity: servicePrincipal,
      grants: 'apps',
      workspace: {
        clientId: servicePrincipal,
        // The instance's host is what Apps puts in PGHOST.
        instances: [{ name: INSTANCE, read_write_dns: '127.0.0.1' }],
      },
    })
    xdg = await tempDir('lakebase-apps-xdg-')
  }, 120_000)
  afterAll(async () => {
    for (const child of children) await child.kill('SIGKILL')
    await lakebase?.close()
  })

  /** What the Apps runtime sets, and nothing else but PATH and HOME. */
  async function appsEnv(overrides: Record<string, string | undefined> = {}) {
    const port = await freePort()
    const env = {
      DATABRICKS_HOST: lakebase.workspace.host,
      DATABRICKS_CLIENT_ID: lakebase.workspace.clientId,
      DATABRICKS_CLIENT_SECRET: lakebase.workspace.clientSecret,
      DATABRICKS_WORKSPACE_ID: '1234567890',
      DATABRICKS_APP_NAME: 'lakebase-broker',
      DATABRICKS_APP_PORT: String(port),
      PGHOST: lakebase.db.host,
      PGPORT: String(lakebase.db.port),
      PGDATABASE: lakebase.db.database,
      PGUSER: servicePrincipal,
      PGSSLMODE: 'disable',
      PGAPPNAME: 'lakebase-broker',
      ...appYamlEnv,
      // A token file would be an error here: the broker and functions share one in memory.
      XDG_CONFIG_HOME: xdg,
      BROKER_DRAIN_S: '0',
      ...overrides,
    }
    return { env, base: `http://127.0.0.1:${port}` }
  }

  async function serve(env: Record<string, string | undefined>) {
    const child = spawnNode('dist/cli/commands/serve.js', [], env)
    children.push(child)
    await child.waitFor('lakebase app listening', 30_000)
    return child
  }

  it('serves health and per-user preferences as the forwarded user, as the service principal', async () => {
    const { env, base } = await appsEnv()
    const child = await serve(env)
    const as = (email: string | null, init: RequestInit = {}) =>
      fetch(`${base}${init.method ? '/api/preferences' : ''}`, {
        ...init,
        headers: {
          'content-type': 'application/json',
          ...(email ? { 'x-forwarded-email': email } : {}),
        },
      })

    expect(await (await fetch(`${base}/api/health`)).json()).toEqual({ status: 'ok' })

    const created = await as('alice@example.com', {
      method: 'POST',
      body: JSON.stringify({ preference_key: 'theme', preference_value: { mode: 'dark' } }),
    })
    expect(created.status).toBe(201)
    const get = (path: string, email: string | null) =>
      fetch(`${base}${path}`, { headers: email ? { 'x-forwarded-email': email } : {} })
    const alices = (await (
      await get('/api/preferences', 'alice@example.com')
    ).json()) as Preference[]
    expect(alices).toEqual([
      expect.objectContaining({
        user_id: 'alice@example.com',
        preference_key: 'theme',
        preference_value: { mode: 'dark' },
      }),
    ])

    // Another forwarded user sees none of it, and cannot reach it by key.
    expect(await (await get('/api/preferences', 'bob@example.com')).json()).toEqual([])
    expect((await get('/api/preferences/theme', 'bob@example.com')).status).toBe(404)
    const anonymous = await get('/api/preferences', null)
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ detail: { error_code: 'AUTH_REQUIRED' } })

    // It logged in as the service principal with a token it minted through OAuth M2M.
    const health = (await (await fetch(`${base}/api/health/database`)).json()) as {
      credential: { user: string; source: string }
    }
    expect(health.credential).toMatchObject({ user: servicePrincipal, source: 'databricks' })
    expect(lakebase.workspace.calls.oidcToken).toBeGreaterThanOrEqual(1)
    expect(lakebase.workspace.calls.databaseCredentials).toBeGreaterThanOrEqual(1)

    // With only CONNECT and CREATE, the tables went into the role's own schema.
    const admin = adminSql(lakebase.db.database)
    const [table] = await admin<{ table_schema: string }[]>`
      select table_schema from information_schema.tables where table_name = 'user_preferences'`
    await admin.end()
    expect(table?.table_schema).toBe(servicePrincipal)

    // No token file, and no secret in the output.
    expect(existsSync(join(xdg, 'lakebase-broker'))).toBe(false)
    const output = child.output()
    for (const secret of [lakebase.workspace.clientSecret, ...lakebase.workspace.minted]) {
      expect(output).not.toContain(secret)
    }

    expect(await child.kill('SIGTERM')).toBe(0)
  })

  it('finds the instance from PGHOST when app.yaml names none', async () => {
    const { env, base } = await appsEnv({ LAKEBASE_INSTANCE_NAME: undefined })
    const child = await serve(env)
    expect(child.output()).toContain('LAKEBASE_INSTANCE_NAME found from PGHOST')
    expect(child.output()).toContain(`"instance":"${INSTANCE}"`)
    const health = await fetch(`${base}/api/health/database`)
    expect(health.status).toBe(200)
    expect(await child.kill('SIGTERM')).toBe(0)
  })
})
