import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createPool } from '../../shared/pg/create-pool.js'
import { createSql } from '../../shared/postgres/create-sql.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { lakebaseLike } from '../support/lakebase-like.js'
import { loopbackWorkspace } from '../support/loopback-workspace.js'
import { rejectionOf } from '../support/rejection.js'
import { tcpProxy } from '../support/tcp-proxy.js'
import { waitFor } from '../support/wait-for.js'
import type { MockWorkspace } from '../testing/workspace/index.js'

type Served = { target: string; host: string; password: string; version: string; user: string }
type ErrorBody = {
  detail: { error_code: string; message: string; technical_details: Record<string, unknown> }
}

const PRIMARY = 'projects/shop/branches/main/endpoints/primary'
const REPLICA = 'projects/shop/branches/main/endpoints/replica'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A broker on `ws`'s first endpoint (plus `env`), stopped after the test. */
async function broker(ws: MockWorkspace, env: Record<string, string> = {}) {
  const started = await startTestBroker({
    ...ws.env({ target: 'autoscaling' }),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    XDG_CONFIG_HOME: '/nonexistent',
    ...env,
  })
  cleanups.push(() => started.broker.close())
  const get = (target: string) =>
    fetch(`${started.url}/v1/credentials/${target}`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
  return { ...started, get }
}

describe("an Autoscaling target's read-only companion <target>-ro", () => {
  it("serves the primary's credential, one mint for both, on the endpoint's read_only_host and never a pooled host", async () => {
    const ws = await loopbackWorkspace({
      endpoints: [{ name: PRIMARY, read_only_host: 'ep-primary-ro.database.example' }],
    })
    const b = await broker(ws)
    const endpoint = ws.endpoints.get(PRIMARY)

    const ro = (await (await b.get('default-ro')).json()) as Served
    const rw = (await (await b.get('default')).json()) as Served
    expect(rw.host).toBe(endpoint?.host)
    expect(ro.host).toBe('ep-primary-ro.database.example')
    expect(ro).toMatchObject({ password: rw.password, version: rw.version, user: rw.user })
    expect(ws.calls.postgresCredentials).toBe(1)
    const pooled = [endpoint?.read_write_pooled_host, endpoint?.read_only_pooled_host]
    expect(pooled).not.toContain(ro.host)
    expect(pooled).not.toContain(rw.host)
  })

  it('answers 404 UNKNOWN_TARGET naming the missing read_only_host when the endpoint has one compute', async () => {
    const ws = await loopbackWorkspace({ endpoints: [{ name: PRIMARY }] })
    const b = await broker(ws)
    const response = await b.get('default-ro')
    expect(response.status).toBe(404)
    const body = (await response.json()) as ErrorBody
    expect(body.detail.error_code).toBe('UNKNOWN_TARGET')
    expect(body.detail.message).toBe(
      `target "default-ro" is not served: endpoint ${PRIMARY} has no read-only host (its status.hosts.read_only_host is empty: one compute, or no readable secondaries); add a compute with readable secondaries to it, or name a read-only endpoint as a target of its own`,
    )
    expect((await b.get('default')).status).toBe(200)
  })

  it('looks read_only_host up once when the primary host is given, as Databricks Apps give it', async () => {
    const ws = await loopbackWorkspace({
      endpoints: [{ name: PRIMARY, read_only_host: 'ep-primary-ro.database.example' }],
    })
    const given = ws.endpoints.get(PRIMARY)?.host ?? ''
    const b = await broker(ws, { PGHOST: given })
    // The start-up check of PGHOST looks the endpoint up once (and finds it is the endpoint's).
    await waitFor(() => ws.calls.getEndpoint === 1)
    expect(((await (await b.get('default')).json()) as Served).host).toBe(given)
    expect(ws.calls.getEndpoint).toBe(1)
    const answers = await Promise.all([b.get('default-ro'), b.get('default-ro')])
    for (const answer of answers) {
      expect(((await answer.json()) as Served).host).toBe('ep-primary-ro.database.example')
    }
    expect(ws.calls.getEndpoint).toBe(2)
    expect(b.logs.text()).not.toMatch(/PGHOST is/)
  })
})

describe('a read-only endpoint named in the config', () => {
  it('is a target of its own: its own mint for its endpoint, its host, and a companion on the same host', async () => {
    const ws = await loopbackWorkspace({
      endpoints: [{ name: PRIMARY }, { name: REPLICA, endpoint_type: 'ENDPOINT_TYPE_READ_ONLY' }],
    })
    const path = join(await tempDir('autoscaling-ro-'), 'broker.json')
    await writeFile(
      path,
      JSON.stringify({ targets: { reports: { env: { LAKEBASE_ENDPOINT: REPLICA } } } }),
    )
    const b = await broker(ws, { BROKER_CONFIG: path })
    const replica = ws.endpoints.get(REPLICA)

    const reports = (await (await b.get('reports')).json()) as Served
    expect(reports.host).toBe(replica?.host)
    expect(reports.host).not.toBe(replica?.read_only_pooled_host)
    const primary = (await (await b.get('default')).json()) as Served
    expect(primary.password).not.toBe(reports.password)
    const endpointsAsked = ws.requests
      .filter((r) => r.route === 'postgresCredentials')
      .map((r) => (JSON.parse(r.body ?? '{}') as { endpoint: string }).endpoint)
    expect(endpointsAsked.sort()).toEqual([PRIMARY, REPLICA])
    const companion = (await (await b.get('reports-ro')).json()) as Served
    expect(companion).toMatchObject({ host: replica?.host, version: reports.version })
  })
})

describe('readOnly: true on an Autoscaling target, against a real Postgres', () => {
  it('connects createSql and createPool to read_only_host, in read-only sessions, on the one credential', async () => {
    // Two host names for one real server: the read-only one is a proxy on 127.0.0.2, same port,
    // so that the connections it counts are the read-only clients'.
    const lb = await lakebaseLike({
      lifetimeS: 3600,
      workspace: { endpoints: [{ name: PRIMARY, host: '127.0.0.1', read_only_host: '127.0.0.2' }] },
    })
    cleanups.push(() => lb.close())
    const replica = await tcpProxy(
      { host: lb.db.host, port: lb.db.port },
      {
        host: '127.0.0.2',
        port: lb.db.port,
      },
    )
    await replica.listen()
    cleanups.push(() => replica.close())
    await lb.db.sql`create table notes (body text)`
    await lb.db.sql.unsafe(`grant select, insert on notes to "${lb.role}"`)
    const { url, broker: running } = await startTestBroker({
      ...lb.workspace.env({ target: 'autoscaling' }),
      DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
      PGPORT: String(lb.db.port),
      PGDATABASE: lb.db.database,
      PGSSLMODE: 'disable',
    })
    cleanups.push(() => running.close())
    const env = { LAKEBASE_BROKER_URL: url, LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN }

    const writer = createSql({ env, max: 1 })
    cleanups.push(() => writer.end({ timeout: 1 }))
    await writer`insert into notes values ('hello')`
    expect(replica.connections).toBe(0)

    const sql = createSql({ env, readOnly: true, max: 1 })
    cleanups.push(() => sql.end({ timeout: 1 }))
    expect(await sql`select body, current_user as role from notes`).toEqual([
      { body: 'hello', role: lb.role },
    ])
    const refused = await rejectionOf(sql`insert into notes values ('nope')`, Error)
    expect((refused as { code?: string }).code).toBe('25006')

    const pool = createPool({ env, readOnly: true, max: 1 })
    cleanups.push(() => pool.end())
    expect((await pool.query('select count(*)::int as n from notes')).rows).toEqual([{ n: 1 }])
    const poolRefused = await rejectionOf(pool.query("insert into notes values ('nope')"), Error)
    expect((poolRefused as { code?: string }).code).toBe('25006')

    expect(replica.connections).toBe(2)
    expect(lb.workspace.calls.postgresCredentials).toBe(1)
  })
})
