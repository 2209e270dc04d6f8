import { afterEach, describe, expect, it } from 'vitest'
import { FunctionsDatabase } from '../../../functions/db/database.js'
import { connectBroker } from '../../../shared/client/broker-client.js'
import { LakebaseError } from '../../../shared/client/errors.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import {
  captureLogs,
  freePort,
  rejectionOf,
  startTestBroker,
  TEST_CLIENT_TOKEN,
  waitFor,
} from '../../support/kit.js'
import { type LakebaseLike, lakebaseLike } from '../../support/lakebase-like.js'
import { adminSql } from '../../support/postgres.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) {
    await step()
  }
})

async function stack(
  options: {
    lakebase?: LakebaseLike
    env?: Record<string, string>
    brokerClock?: ManualClock
  } = {},
) {
  const env = options.lakebase?.brokerEnv ?? options.env ?? {}
  const { broker } = await startTestBroker(
    env,
    options.brokerClock ? { clock: options.brokerClock } : {},
  )
  cleanup.push(() => broker.close())
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const logs = captureLogs('db')
  const database = new FunctionsDatabase({ credentials, logger: logs.logger, max: 3 })
  cleanup.push(() => database.close())
  return { broker, credentials, database, logs }
}

const terminateBackendsOf = async (role: string) => {
  const admin = adminSql()
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`
  await admin.end()
}

describe('Database', () => {
  it('logs in as the credential user with the broker password', async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const { database } = await stack({ lakebase })
    const [row] = await database.run((db) => db.execute('select current_user as who'))
    expect(row?.who).toBe(lakebase.role)
    expect(database.stats()).toMatchObject({ login_user: lakebase.role, logins: 1 })
  })

  it('survives a rotation it had not yet seen plus a killed backend, without failing the call', async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const brokerClock = new ManualClock(Date.now())
    const { broker, database, credentials, logs } = await stack({ lakebase, brokerClock })
    await database.run((db) => db.execute('select 1'))
    const first = credentials.current()?.password

    // The broker rotates (its clock reaches the refresh point); the old token stops working at
    // login, while this client still holds it in memory.
    const cache = broker.caches.get('default')
    const refreshAt = cache?.status().refreshAt ?? Number.NaN
    await brokerClock.advance(refreshAt - brokerClock.now())
    await waitFor(() => cache?.status().history.length === 2, { timeoutMs: 10_000 })
    expect(lakebase.workspace.credentials).toHaveLength(2)
    await terminateBackendsOf(lakebase.role)

    const [row] = await database.run((db) => db.execute('select current_user as who'))
    expect(row?.who).toBe(lakebase.role)
    expect(credentials.current()?.password).toBe(lakebase.workspace.credentials[1]?.token)
    expect(credentials.current()?.password).not.toBe(first)
    expect(logs.text()).toContain('"failure":"auth"')
    for (const minted of lakebase.workspace.minted) expect(logs.text()).not.toContain(minted)
  })

  it('retries a read once when its backend is killed, and never a write that may have run', async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const { database, logs } = await stack({ lakebase })
    await database.run((db) => db.execute('create table marks (v int)'))
    const admin = adminSql()
    cleanup.push(() => admin.end())
    const killWhenRunning = async (marker: string) => {
      await waitFor(
        async () => {
          const rows = await admin`
          select pid from pg_stat_activity
          where state = 'active' and usename = ${lakebase.role} and query like ${`%${marker}%`}`
          if (rows.length === 0) return false
          await admin`select pg_terminate_backend(${rows[0]?.pid})`
          return true
        },
        { timeoutMs: 10_000 },
      )
    }

    let runs = 0
    const read = database.run(async (db) => {
      runs += 1
      return db.execute(`select pg_sleep(1), 1 as ok, 'first' as marker`)
    })
    await killWhenRunning('first')
    expect((await read)[0]?.ok).toBe(1)
    expect(runs).toBe(1)
    expect(logs.text()).toMatch(/"ran":true,"retry":true/)

    const write = database.run((db) =>
      db.execute(`insert into marks select 1 from pg_sleep(5) -- second`),
    )
    // Handled from the start: it rejects while killWhenRunning is still polling.
    const refused = rejectionOf(write, LakebaseError)
    await killWhenRunning('second')
    const err = await refused
    expect(err).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE', retryAfter: 5 })
    expect(logs.text()).toMatch(/"ran":true,"retry":false/)
    const [count] = await database.run((db) => db.execute('select count(*)::int as n from marks'))
    expect(count?.n).toBe(0)
  })

  it('fails fast with CREDENTIAL_UNAVAILABLE when the broker holds no valid credential', async () => {
    const { database } = await stack({
      env: { LAKEBASE_PROVIDER: 'command', LAKEBASE_CREDENTIAL_COMMAND: 'exit 1' },
    })
    const err = await rejectionOf(
      database.run((db) => db.execute('select 1')),
      LakebaseError,
    )
    expect(err.code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(database.stats().logins).toBe(0)
  })

  it('answers DATABASE_UNAVAILABLE with retry_after when Postgres is not there, after the wake budget', async () => {
    const port = await freePort()
    const { database } = await stack({
      env: {
        PGUSER: 'u',
        PGPASSWORD: 'p',
        PGHOST: '127.0.0.1',
        PGPORT: String(port),
        PGSSLMODE: 'disable',
      },
    })
    const err = await rejectionOf(
      database.run((db) => db.execute('select 1')),
      LakebaseError,
    )
    expect(err).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE', retryAfter: 5 })
  })
})
