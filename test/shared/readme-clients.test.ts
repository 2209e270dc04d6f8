import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'

/** The README's "use the broker from your own service" examples, run as written (TLS off). */
describe('the README client examples', () => {
  let lakebase: LakebaseLike
  let broker: RunningBroker
  beforeAll(async () => {
    lakebase = await lakebaseLike({ lifetimeS: 3600 })
    broker = (await startTestBroker(lakebase.brokerEnv)).broker
  })
  afterAll(async () => {
    await broker?.close()
    await lakebase?.close()
  })

  it('logs in with postgres.js and a password function', async () => {
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    const first = await credentials.get()
    const sql = postgres({
      host: first.host,
      port: first.port,
      database: first.database,
      username: first.user,
      password: () => credentials.password(),
      ssl: false,
      onnotice: () => {},
    })
    try {
      const [row] = await sql`select current_user as who`
      expect(row?.who).toBe(lakebase.role)
    } finally {
      await sql.end()
    }
  })

  it('logs in with pg and an async password function', async () => {
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    const first = await credentials.get()
    const pool = new pg.Pool({
      host: first.host,
      port: first.port,
      database: first.database,
      user: first.user,
      password: () => credentials.password(),
      ssl: false,
    })
    try {
      const { rows } = await pool.query('select current_user as who')
      expect(rows[0]?.who).toBe(lakebase.role)
    } finally {
      await pool.end()
    }
  })
})
