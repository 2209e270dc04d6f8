import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { createPool } from '../../shared/pg/create-pool.js'
import { createSql } from '../../shared/postgres/create-sql.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { rejectionOf } from '../support/rejection.js'
import { type TcpProxy, tcpProxy } from '../support/tcp-proxy.js'

/**
 * Issue 22, item 3: the first connection to an endpoint scaled to zero (IDLE) waits for it to
 * wake, within the connect timeout, instead of failing the request; the credential stays the
 * one the broker holds. The endpoint is a real Postgres behind a proxy that resets every
 * connection for a while, as a waking endpoint refuses them, then lets them through: retrying
 * at once gets nowhere, only waiting does.
 */

const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'
/**
 * How long the endpoint takes to wake: "a few hundred milliseconds" (the Lakebase docs), longer
 * than any run of immediate retries, and well inside both wake budgets (3 s, 5 s).
 */
const WAKE_MS = 500

let lakebase: LakebaseLike
let proxy: TcpProxy
let broker: RunningBroker
let env: Record<string, string>
const cleanups: Array<() => Promise<unknown>> = []

beforeEach(async () => {
  lakebase = await lakebaseLike({
    lifetimeS: 3600,
    workspace: { endpoints: [{ name: ENDPOINT, current_state: 'IDLE', host: '127.0.0.1' }] },
  })
  cleanups.push(() => lakebase.close())
  proxy = await tcpProxy({ host: lakebase.db.host, port: lakebase.db.port })
  await proxy.listen()
  cleanups.push(() => proxy.close())
  ;({ broker } = await startTestBroker({
    ...lakebase.workspace.env({ target: 'autoscaling' }),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    PGPORT: String(proxy.port),
    PGDATABASE: lakebase.db.database,
    PGSSLMODE: 'disable',
  }))
  cleanups.push(() => broker.close())
  env = { LAKEBASE_BROKER_URL: broker.url, LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN }
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** The broker minted once and was never told the credential was refused. */
function expectOneCredential() {
  expect(lakebase.workspace.calls.postgresCredentials).toBe(1)
  expect(broker.caches.get('default')?.status().forcedRefreshes).toBe(0)
}

describe('the first connection to an IDLE endpoint', () => {
  it('waits for the wake-up with createSql, on the credential the broker holds', async () => {
    const sql = createSql({ env, max: 1 })
    cleanups.push(() => sql.end({ timeout: 1 }))
    proxy.refuseFor(WAKE_MS)
    expect(await sql`select current_user as role`).toEqual([{ role: lakebase.role }])
    expect(proxy.refused).toBeGreaterThan(0)
    expect(proxy.connections).toBe(proxy.refused + 1)
    expectOneCredential()
  })

  it('waits for the wake-up with createPool, on the credential the broker holds', async () => {
    const pool = createPool({ env, max: 1 })
    cleanups.push(() => pool.end())
    proxy.refuseFor(WAKE_MS)
    expect((await pool.query('select current_user as role')).rows).toEqual([
      { role: lakebase.role },
    ])
    expect(proxy.refused).toBeGreaterThan(0)
    expect(pool.stats().connection_retries).toBe(proxy.refused)
    expectOneCredential()
  })

  it('fails with a connection error once the wake-up outlasts the budget: createSql’s wake budget', async () => {
    const sql = createSql({ env, max: 1, wakeTimeoutMs: 0 })
    cleanups.push(() => sql.end({ timeout: 1 }))
    proxy.refuseFor(WAKE_MS)
    const err = await rejectionOf(sql`select 1`, Error)
    expect((err as { code?: string }).code).toMatch(/^(ECONNRESET|CONNECTION_CLOSED)$/)
    expectOneCredential()
  })

  it('fails with a connection error once the wake-up outlasts the budget: createPool’s connect timeout', async () => {
    const pool = createPool({ env, max: 1, connectionTimeoutMillis: WAKE_MS / 2 })
    cleanups.push(() => pool.end())
    proxy.refuseFor(WAKE_MS * 2)
    const err = await rejectionOf(pool.query('select 1'), Error)
    expect(err.message).toMatch(/timeout|Connection terminated|ECONNRESET|closed/i)
    expect(proxy.refused).toBeGreaterThan(0)
    expectOneCredential()
  })
})
