import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import type { Credential } from '../../shared/client/credential.js'
import { createPool } from '../../shared/pg/create-pool.js'
import { createSql } from '../../shared/postgres/create-sql.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'

/**
 * Issue 23, item 5: a refusal reported inside the broker's forced-refresh window. On the strict
 * Lakebase-like Postgres a token minted elsewhere right after a forced refresh makes the broker's
 * new credential the refused one, and the broker may not mint again for a few seconds. It answers
 * 503 with `retry_after` instead of the refused credential, and migrate waits it out within its
 * connect timeout, then logs in with the next one.
 */
const FORCED_REFRESH_MIN_S = 2

let lakebase: LakebaseLike
let broker: RunningBroker

beforeAll(async () => {
  lakebase = await lakebaseLike({ lifetimeS: 3600 })
  broker = (
    await startTestBroker({
      ...lakebase.brokerEnv,
      BROKER_FORCED_REFRESH_MIN_S: String(FORCED_REFRESH_MIN_S),
    })
  ).broker
}, 60_000)

afterAll(async () => {
  await broker?.close()
  await lakebase?.close()
})

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${broker.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/**
 * A client reports the broker's credential refused, so the broker forces a refresh (its window
 * starts); someone else mints right after, so on Lakebase-like Postgres the new token stops working.
 */
async function outsideMintRightAfterAForcedRefresh(): Promise<void> {
  const held = (await (
    await fetch(`${broker.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
  ).json()) as Credential
  // A window left by the test before is waited out as the broker says.
  let forced = (await (
    await post('/v1/credentials/default/refresh', { refused: held.version })
  ).json()) as Credential
  while (forced.retryAfter !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, (forced.retryAfter ?? 0) * 1000))
    forced = (await (
      await post('/v1/credentials/default/refresh', { refused: held.version })
    ).json()) as Credential
  }
  expect(forced.version).not.toBe(held.version)
  await lakebase.workspace.mint()
}

function client() {
  return connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
}

describe('a login refused inside the forced-refresh window', () => {
  it('createSql waits out the window the broker names, within its connect timeout', async () => {
    const credentials = client()
    const sql = createSql({ credentials, sslMode: 'disable', max: 1, connect_timeout: 10 })
    try {
      await credentials.get()
      await outsideMintRightAfterAForcedRefresh()
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('createPool too', async () => {
    const credentials = client()
    const pool = createPool({
      credentials,
      sslMode: 'disable',
      max: 1,
      connectionTimeoutMillis: 10_000,
    })
    try {
      await credentials.get()
      await outsideMintRightAfterAForcedRefresh()
      expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    } finally {
      await pool.end()
    }
  })

  it("but not past the connect timeout: then the refused login's error stands", async () => {
    const credentials = client()
    const sql = createSql({ credentials, sslMode: 'disable', max: 1, connect_timeout: 1 })
    try {
      await credentials.get()
      await outsideMintRightAfterAForcedRefresh()
      await expect(sql`select 1`).rejects.toMatchObject({ code: '28P01' })
    } finally {
      await sql.end({ timeout: 1 })
    }
  })
})

describe('migrate after an outside mint right after a forced refresh', () => {
  it('waits out the window the broker names, and succeeds', async () => {
    const before = await broker.metrics.registry.metrics()
    await outsideMintRightAfterAForcedRefresh()

    const summary = await migrateViaBroker(client())

    expect(summary.applied).toBeGreaterThan(0)
    // The report inside the window was told to wait, and the next one minted.
    const count = (text: string, series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(series))
          ?.split(' ')[1] ?? 0,
      )
    const after = await broker.metrics.registry.metrics()
    const limited =
      'lakebase_broker_refusals_reported_total{target="default",outcome="rate_limited"}'
    const forcedTotal = 'lakebase_broker_forced_refreshes_total{target="default"}'
    expect(count(after, limited) - count(before, limited)).toBeGreaterThanOrEqual(1)
    expect(count(after, forcedTotal) - count(before, forcedTotal)).toBe(2)
  })
})
