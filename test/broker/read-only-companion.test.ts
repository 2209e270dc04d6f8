import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { MockWorkspaceServer } from '../../testing/serve.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { waitFor } from '../support/wait-for.js'
import {
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceOptions,
} from '../testing/workspace/index.js'

type Served = {
  target: string
  user: string
  password: string
  host: string
  port: number
  database: string
  ssl: string
  expiresAt: string
  refreshAt: string
  version: string
}
type ErrorBody = {
  detail: { error_code: string; message: string; technical_details: Record<string, unknown> }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A mock workspace on a loopback socket, closed after the test. */
async function workspace(options: MockWorkspaceOptions = {}): Promise<MockWorkspace> {
  const ws = createMockWorkspace({ ...options, host: `http://127.0.0.1:${await freePort()}` })
  const server: MockWorkspaceServer = await ws.listen()
  cleanups.push(() => server.close())
  return ws
}

/** A broker on `ws` (plus `env`), stopped after the test. */
async function broker(ws: MockWorkspace, env: Record<string, string> = {}) {
  const started = await startTestBroker({
    ...ws.env(),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    XDG_CONFIG_HOME: '/nonexistent',
    ...env,
  })
  cleanups.push(() => started.broker.close())
  const get = (target: string, token = TEST_CLIENT_TOKEN) =>
    fetch(`${started.url}/v1/credentials/${target}`, {
      headers: { authorization: `Bearer ${token}` },
    })
  return { ...started, get }
}

async function configFile(config: unknown): Promise<string> {
  const path = join(await tempDir('companion-'), 'broker.json')
  await writeFile(path, JSON.stringify(config))
  return path
}

describe("a Provisioned target's read-only companion <target>-ro", () => {
  it("serves the primary's credential, one mint for both, with the instance's read_only_dns as host", async () => {
    const ws = await workspace()
    const b = await broker(ws)
    const instance = ws.instances.get(ws.instanceName)

    const companion = await b.get('default-ro')
    expect(companion.status).toBe(200)
    const ro = (await companion.json()) as Served
    const rw = (await (await b.get('default')).json()) as Served
    expect(ro.target).toBe('default-ro')
    expect(rw.host).toBe(instance?.read_write_dns)
    expect(ro.host).toBe(instance?.read_only_dns)
    const { target: _a, host: _b, ...sameInRo } = ro
    const { target: _c, host: _d, ...sameInRw } = rw
    expect(sameInRo).toEqual(sameInRw)
    expect(ro.password).toBe(ws.minted[0])
    expect(ws.calls.databaseCredentials).toBe(1)
    expect([...b.broker.companions.keys()]).toEqual(['default-ro'])

    // A warm hit (the node:http fast path) answers the same.
    expect(((await (await b.get('default-ro')).json()) as Served).version).toBe(rw.version)
    expect(ws.calls.databaseCredentials).toBe(1)
  })

  it('reports a refused companion credential as its primary: one forced mint, and both move on', async () => {
    const ws = await workspace()
    const b = await broker(ws)
    const before = (await (await b.get('default-ro')).json()) as Served
    const refreshed = await fetch(`${b.url}/v1/credentials/default-ro/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ refused: before.version }),
    })
    expect(refreshed.status).toBe(200)
    const after = (await refreshed.json()) as Served
    expect(after.version).not.toBe(before.version)
    expect(after.host).toBe(before.host)
    expect(ws.calls.databaseCredentials).toBe(2)
    const primary = (await (await b.get('default')).json()) as Served
    expect(primary.version).toBe(after.version)
    expect(primary.password).toBe(after.password)
  })

  it('answers 404 UNKNOWN_TARGET saying so when the instance has no readable secondaries', async () => {
    const ws = await workspace({ instances: [{ name: 'orders', read_only_dns: '' }] })
    const b = await broker(ws)
    const response = await b.get('default-ro')
    expect(response.status).toBe(404)
    const body = (await response.json()) as ErrorBody
    expect(body.detail.error_code).toBe('UNKNOWN_TARGET')
    expect(body.detail.message).toMatch(/orders has no readable secondaries/)
    expect(body.detail.technical_details).toEqual({ target: 'default-ro', primary: 'default' })
    // The primary is unaffected, and ready; the companion does not hold /readyz back.
    expect((await b.get('default')).status).toBe(200)
    const ready = await fetch(`${b.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(((await ready.json()) as { targets: { target: string }[] }).targets).toEqual([
      expect.objectContaining({ target: 'default' }),
    ])
    expect(ws.calls.databaseCredentials).toBe(1)
  })

  it('looks the read_only_dns up once, when first asked, when the primary host is given (as in Databricks Apps)', async () => {
    const ws = await workspace()
    const b = await broker(ws, { PGHOST: 'db.internal.example' })
    const primary = (await (await b.get('default')).json()) as Served
    expect(primary.host).toBe('db.internal.example')
    // One lookup checks the given PGHOST at start-up; the primary's refreshes never look the
    // instance up: its host is given.
    await waitFor(() => b.logs.text().includes('PGHOST is db.internal.example'))
    expect(ws.calls.getInstance).toBe(1)
    const [first, second] = await Promise.all([b.get('default-ro'), b.get('default-ro')])
    const served = (await first?.json()) as Served
    expect(second?.status).toBe(200)
    expect(served.host).toBe(ws.instances.get(ws.instanceName)?.read_only_dns)
    expect(served).toMatchObject({ password: primary.password, version: primary.version })
    expect((await (await b.get('default-ro')).json()) as Served).toMatchObject({
      host: served.host,
    })
    expect(ws.calls).toMatchObject({ getInstance: 2, databaseCredentials: 1 })
  })

  it('answers 404 when the looked-up instance has no readable secondaries, and 503 (asked again) when the lookup fails', async () => {
    const ws = await workspace({ instances: [{ name: 'orders', read_only_dns: '' }] })
    const none = await broker(ws, {
      LAKEBASE_INSTANCE_NAME: 'orders',
      PGHOST: 'db.internal.example',
    })
    const missing = await none.get('default-ro')
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as ErrorBody).detail.message).toMatch(/no readable secondaries/)

    const up = await workspace()
    const flaky = await broker(up, { PGHOST: 'db.internal.example' })
    expect((await flaky.get('default')).status).toBe(200)
    await waitFor(() => up.calls.getInstance === 1, { what: 'the start-up check of PGHOST' })
    up.script('getInstance', { status: 503 })
    const failed = await flaky.get('default-ro')
    expect(failed.status).toBe(503)
    expect(((await failed.json()) as ErrorBody).detail.error_code).toBe('CREDENTIAL_UNAVAILABLE')
    expect((await flaky.get('default-ro')).status).toBe(200)
  })

  it('gives way to a target the config file names <target>-ro', async () => {
    const ws = await workspace()
    const path = await configFile({
      targets: { 'default-ro': { env: { PGHOST: 'replica.internal.example' } } },
    })
    const b = await broker(ws, { BROKER_CONFIG: path })
    expect(b.broker.companions.size).toBe(0)
    const served = (await (await b.get('default-ro')).json()) as Served
    expect(served.host).toBe('replica.internal.example')
    // A target of its own: its own mint.
    await b.get('default')
    expect(ws.calls.databaseCredentials).toBe(2)
  })

  it('is offered for every Lakebase target of the config file, not for a read-only one', async () => {
    const ws = await workspace({ instances: [{ name: 'test-instance' }, { name: 'reporting' }] })
    const path = await configFile({
      targets: {
        reporting: { env: { LAKEBASE_INSTANCE_NAME: 'reporting' } },
        replica: { env: { LAKEBASE_READ_ONLY: 'true' } },
        scaling: {
          env: {
            LAKEBASE_INSTANCE_NAME: '',
            LAKEBASE_ENDPOINT: 'projects/test-project/branches/production/endpoints/primary',
          },
        },
      },
    })
    const b = await broker(ws, { BROKER_CONFIG: path })
    expect([...b.broker.companions.keys()].sort()).toEqual([
      'default-ro',
      'reporting-ro',
      'scaling-ro',
    ])
    const reporting = (await (await b.get('reporting-ro')).json()) as Served
    expect(reporting.host).toBe(ws.instances.get('reporting')?.read_only_dns)
    // The endpoint has one compute, so no read-only host: its companion says what is missing.
    const scaling = await b.get('scaling-ro')
    expect(scaling.status).toBe(404)
    expect(((await scaling.json()) as ErrorBody).detail.message).toMatch(
      /status\.hosts\.read_only_host is empty/,
    )
    expect((await b.get('replica-ro')).status).toBe(404)
  })

  it('is readable by a client allowed its primary, and by no client that is not', async () => {
    const ws = await workspace()
    const path = await configFile({
      targets: { other: { env: {} } },
      clients: [
        { name: 'app', token: 'app-token-0123456789abcdef', targets: ['default'] },
        { name: 'reader', token: 'reader-token-0123456789abcd', targets: ['default-ro'] },
        { name: 'other', token: 'other-token-0123456789abcde', targets: ['other'] },
      ],
    })
    const b = await broker(ws, { BROKER_CONFIG: path })
    expect((await b.get('default-ro', 'app-token-0123456789abcdef')).status).toBe(200)
    // Twice: the second is a warm hit, answered by the fast path, which must agree.
    expect((await b.get('default-ro', 'app-token-0123456789abcdef')).status).toBe(200)
    expect((await b.get('default-ro', 'reader-token-0123456789abcd')).status).toBe(200)
    expect((await b.get('default', 'reader-token-0123456789abcd')).status).toBe(403)
    const refused = await b.get('default-ro', 'other-token-0123456789abcde')
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as ErrorBody).detail.error_code).toBe('BROKER_FORBIDDEN')
    expect((await b.get('other-ro', 'other-token-0123456789abcde')).status).toBe(200)
  })

  it('shows on the status page and gets its own .pgpass line (its host, the same password)', async () => {
    const ws = await workspace()
    const pgpass = join(await tempDir('companion-'), 'pgpass')
    const b = await broker(ws, { BROKER_PGPASS_FILE: pgpass })
    const instance = ws.instances.get(ws.instanceName)
    const token = (await waitFor(async () => ws.minted[0])) as string
    const text = await waitFor(async () => {
      const t = await readFile(pgpass, 'utf8').catch(() => '')
      return t.split('\n').length === 3 ? t : undefined
    })
    expect(text).toBe(
      [
        `${instance?.read_write_dns}:5432:databricks_postgres:${ws.identity}:${token}`,
        `${instance?.read_only_dns}:5432:databricks_postgres:${ws.identity}:${token}`,
        '',
      ].join('\n'),
    )
    const status = (await (await fetch(`${b.url}/status.json`)).json()) as {
      targets: { target: string; host: string }[]
    }
    expect(status.targets.map((t) => [t.target, t.host])).toEqual([
      ['default', instance?.read_write_dns],
      ['default-ro', instance?.read_only_dns],
    ])
  })
})
