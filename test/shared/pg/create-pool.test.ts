import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerCredentials, connectBroker } from '../../../shared/client/broker-client.js'
import { LakebaseError, LakebaseOptionError } from '../../../shared/client/errors.js'
import { type CreatePoolOptions, createPool } from '../../../shared/pg/create-pool.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../../support/broker.js'
import { captureLogs } from '../../support/capture-logs.js'
import { type LakebaseLike, lakebaseLike } from '../../support/lakebase-like.js'
import { adminSql } from '../../support/postgres.js'
import { rejectionOf } from '../../support/rejection.js'
import { waitFor } from '../../support/wait-for.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** How long a condition here may take: a rotation, a login, a backend starting a statement. */
const WITHIN_MS = 10_000

/** A broker (its clock in the test's hands) and a pool on it. */
async function stack(
  options: {
    lakebase?: LakebaseLike
    env?: Record<string, string>
    pool?: Omit<CreatePoolOptions, 'credentials'>
  } = {},
) {
  const brokerClock = new ManualClock(Date.now())
  const { broker } = await startTestBroker(options.lakebase?.brokerEnv ?? options.env ?? {}, {
    clock: brokerClock,
  })
  cleanup.push(() => broker.close())
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const logs = captureLogs('pg')
  const pool = createPool({ credentials, env: {}, logger: logs.logger, max: 3, ...options.pool })
  cleanup.push(() => pool.end())
  /** The broker rotates; the previous token stops working at login, this client still holds it. */
  const rotate = async () => {
    const cache = broker.caches.get('default')
    const before = cache?.status().history.length ?? 0
    await brokerClock.advance((cache?.status().refreshAt ?? Number.NaN) - brokerClock.now())
    await waitFor(() => (cache?.status().history.length ?? 0) > before, {
      what: 'the broker rotates',
      timeoutMs: WITHIN_MS,
    })
  }
  return { broker, credentials, pool, logs, rotate }
}

async function strict() {
  const lakebase = await lakebaseLike({ lifetimeS: 3600 })
  cleanup.push(() => lakebase.close())
  return lakebase
}

async function terminateBackendsOf(role: string) {
  const admin = adminSql()
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`
  await admin.end()
}

/** The backend running a statement that contains `marker`, once it is running. */
async function backendRunning(role: string, marker: string): Promise<number> {
  const admin = adminSql()
  try {
    return await waitFor(
      async () => {
        const rows = await admin`
          select pid from pg_stat_activity
          where state = 'active' and usename = ${role} and query like ${`%${marker}%`}
            and pid <> pg_backend_pid()`
        return rows[0]?.pid as number | undefined
      },
      { what: `a backend runs ${marker}`, timeoutMs: WITHIN_MS, everyMs: 20 },
    )
  } finally {
    await admin.end()
  }
}

async function terminate(pid: number) {
  const admin = adminSql()
  await admin`select pg_terminate_backend(${pid})`
  await admin.end()
}

/** No broker credential at all: the command provider's command fails. */
const NO_CREDENTIAL = { LAKEBASE_PROVIDER: 'command', LAKEBASE_CREDENTIAL_COMMAND: 'exit 1' }

describe('createPool', () => {
  it('logs in as the credential user with the broker password, and counts the pool from pg', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    const { rows } = await pool.query('select current_user as who, current_database() as db')
    expect(rows[0]).toEqual({ who: lakebase.role, db: lakebase.db.database })
    expect(pool.stats()).toEqual({
      max: 3,
      open: 1,
      idle: 1,
      waiting: 0,
      logins: 1,
      auth_retries: 0,
      connection_retries: 0,
      login_user: lakebase.role,
    })
  })

  it('fails fast with CREDENTIAL_UNAVAILABLE, opening nothing, when the broker has no credential', async () => {
    const { pool } = await stack({ env: NO_CREDENTIAL })
    const started = performance.now()
    const viaQuery = await rejectionOf(pool.query('select 1'), LakebaseError)
    const viaConnect = await rejectionOf(pool.connect(), LakebaseError)
    const viaCallback = await new Promise<Error | undefined>((resolve) => {
      pool.query('select 1', (err: Error | undefined) => resolve(err))
    })
    expect(performance.now() - started).toBeLessThan(2_000)
    for (const err of [viaQuery, viaConnect, viaCallback]) {
      expect(err).toMatchObject({ status: 503, code: 'CREDENTIAL_UNAVAILABLE' })
    }
    expect(pool.stats()).toMatchObject({ open: 0, logins: 0 })
  })

  it('hands pg a password function that never rejects', async () => {
    const { pool } = await stack({ env: NO_CREDENTIAL })
    const password = pool.options.password as () => Promise<string>
    await expect(password()).resolves.toBe('')
  })

  it('logs in again with a fresh credential when a rotation made Postgres refuse the old one', async () => {
    const lakebase = await strict()
    const { pool, credentials, rotate, logs } = await stack({ lakebase })
    await pool.query('select 1')
    const first = credentials.current()?.password

    await rotate()
    await terminateBackendsOf(lakebase.role)
    const { rows } = await pool.query('select current_user as who')
    expect(rows[0]?.who).toBe(lakebase.role)
    expect(credentials.current()?.password).toBe(lakebase.workspace.credentials.at(-1)?.token)
    expect(credentials.current()?.password).not.toBe(first)

    await rotate()
    await terminateBackendsOf(lakebase.role)
    const client = await pool.connect()
    try {
      expect((await client.query('select 1 as ok')).rows[0]?.ok).toBe(1)
    } finally {
      client.release()
    }
    expect(pool.stats().auth_retries).toBeGreaterThanOrEqual(2)
    expect(logs.text()).toContain('"failure":"auth"')
    for (const minted of lakebase.workspace.minted) expect(logs.text()).not.toContain(minted)
  })

  it('drops idle clients whose backend was killed, without crashing, and reconnects', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()])
    for (const client of clients) client.release()
    expect(pool.stats()).toMatchObject({ open: 3, idle: 3 })
    const removed = new Promise((resolve) => pool.once('remove', resolve))

    await terminateBackendsOf(lakebase.role)
    await removed
    const results = await Promise.all([1, 2, 3].map(() => pool.query('select 1 as ok')))
    expect(results.map((r) => r.rows[0]?.ok)).toEqual([1, 1, 1])
  })

  it('survives a checked-out client whose backend is killed between its queries', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    const client = await pool.connect()
    const ended = new Promise((resolve) => client.once('end', resolve))
    await terminateBackendsOf(lakebase.role)
    await ended
    await expect(client.query('select 1')).rejects.toThrow(/not queryable/)
    client.release()
    expect((await pool.query('select 1 as ok')).rows[0]?.ok).toBe(1)
  })

  it('runs a read-only statement once more when its backend is killed mid-statement', async () => {
    const lakebase = await strict()
    await lakebase.db.sql`create table pause (seconds float not null)`
    await lakebase.db.sql`insert into pause values (5)`
    await lakebase.db.sql.unsafe(`grant select on pause to "${lakebase.role}"`)
    const { pool } = await stack({ lakebase })
    await pool.query('select 1')

    const read = pool.query(
      "select pg_sleep((select seconds from pause)), 1 as ok, 'read-marker' as marker",
    )
    const pid = await backendRunning(lakebase.role, 'read-marker')
    // The running statement already read 5; the one that runs again reads 0.
    await lakebase.db.sql`update pause set seconds = 0`
    await terminate(pid)
    expect((await read).rows[0]?.ok).toBe(1)
    expect(pool.stats().connection_retries).toBe(1)
  })

  it('does not run a write again when its backend is killed mid-statement: it rejects', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    await pool.query('create table log (v int)')

    const write = pool.query("insert into log select 1 from pg_sleep(5) where 'write-marker' <> ''")
    const refused = write.then(
      () => undefined,
      (err: unknown) => err,
    )
    await terminate(await backendRunning(lakebase.role, 'write-marker'))
    expect(await refused).toMatchObject({ code: '57P01' })
    expect(pool.stats().connection_retries).toBe(0)
    expect((await pool.query('select count(*)::int as n from log')).rows[0]?.n).toBe(0)
  })

  it('replaces clients of the previous login when the credential names another user', async () => {
    const [first, second] = [await strict(), await strict()]
    const clients = []
    for (const lakebase of [first, second]) {
      const { broker } = await startTestBroker(lakebase.brokerEnv)
      cleanup.push(() => broker.close())
      clients.push(connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }))
    }
    let active = clients[0] as BrokerCredentials
    const switching: BrokerCredentials = {
      target: 'default',
      get: () => active.get(),
      current: () => active.current(),
      password: () => active.password(),
      forget: () => active.forget(),
    }
    const pool = createPool({ credentials: switching, env: {}, max: 2 })
    cleanup.push(() => pool.end())
    const who = async () => (await pool.query('select current_user as u')).rows[0]?.u
    expect(await who()).toBe(first.role)

    active = clients[1] as BrokerCredentials
    expect(await who()).toBe(second.role)
    expect(pool.stats()).toMatchObject({ open: 1, login_user: second.role })
  })

  it('takes a client out of the pool when pg gave up on its statement (query_timeout)', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase, pool: { query_timeout: 200 } })
    await expect(pool.query('select pg_sleep(2)')).rejects.toThrow('Query read timeout')
    await waitFor(() => pool.stats().open === 0, {
      what: 'the client is out of the pool',
      timeoutMs: WITHIN_MS,
    })
    expect((await pool.query('select 1 as ok')).rows[0]?.ok).toBe(1)
    expect(pool.stats()).toMatchObject({ open: 1, logins: 2 })
  })

  it('falls back to plain text under prefer (the credential’s ssl) when the server has no TLS', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ env: { ...lakebase.brokerEnv, PGSSLMODE: 'prefer' } })
    const { rows } = await pool.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')
    expect(rows[0]?.ssl).toBe(false)
  })

  it('finds the broker from the environment: LAKEBASE_BROKER_URL and the token file', async () => {
    const lakebase = await strict()
    const { broker } = await stack({ lakebase })
    const dir = await tempDir()
    const tokenFile = join(dir, 'token')
    await writeFile(tokenFile, `${TEST_CLIENT_TOKEN}\n`)
    const pool = createPool({
      env: { LAKEBASE_BROKER_URL: broker.url, BROKER_TOKEN_FILE: tokenFile, PGSSLMODE: 'disable' },
    })
    cleanup.push(() => pool.end())
    expect((await pool.query('select current_user as who')).rows[0]?.who).toBe(lakebase.role)
  })

  it('plugs into drizzle and keeps pg’s callback forms', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    const db = drizzle(pool)
    const { rows } = await db.execute<{ ok: number }>(sql`select ${41}::int + 1 as ok`)
    expect(rows[0]?.ok).toBe(42)
    const viaCallback = await new Promise<pg.QueryResult>((resolve, reject) => {
      pool.query('select $1::int as n', [7], (err: Error | undefined, result: pg.QueryResult) =>
        err ? reject(err) : resolve(result),
      )
    })
    expect(viaCallback.rows[0]?.n).toBe(7)
    const client = await new Promise<pg.PoolClient>((resolve, reject) => {
      pool.connect((err, c) => (err || !c ? reject(err) : resolve(c)))
    })
    client.release()
  })

  it('passes a database error through as pg’s own, keeping the client', async () => {
    const lakebase = await strict()
    const { pool } = await stack({ lakebase })
    const err = await pool.query('select * from no_such_table').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: '42P01' })
    expect(pool.stats()).toMatchObject({ open: 1, logins: 1, connection_retries: 0 })
  })
})

describe('createPool({ readOnly: true })', () => {
  it("logs in with the broker's default-ro credential, reads, and Postgres refuses its writes (25006)", async () => {
    // The primary's host does not resolve: only the read-only companion reaches Postgres.
    const lakebase = await lakebaseLike({
      lifetimeS: 3600,
      workspace: {
        instances: [
          { name: 'test-instance', read_write_dns: 'primary.invalid', read_only_dns: '127.0.0.1' },
        ],
      },
    })
    cleanup.push(() => lakebase.close())
    const { PGHOST: _, ...brokerEnv } = lakebase.brokerEnv
    const { broker } = await startTestBroker(brokerEnv)
    cleanup.push(() => broker.close())
    await lakebase.db.sql.unsafe(
      `create table notes (n int); insert into notes values (1);
       grant select, insert on notes to "${lakebase.role}"`,
    )
    const pool = createPool({
      env: {
        LAKEBASE_BROKER_URL: broker.url,
        LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
        PGSSLMODE: 'disable',
      },
      readOnly: true,
      options: '-c statement_timeout=5s',
      max: 2,
    })
    cleanup.push(() => pool.end())

    const { rows } = await pool.query(
      `select current_user as who, current_setting('default_transaction_read_only') as ro,
        current_setting('statement_timeout') as timeout, count(*)::int as n from notes`,
    )
    expect(rows).toEqual([{ who: lakebase.role, ro: 'on', timeout: '5s', n: 1 }])
    const err = await rejectionOf(pool.query('insert into notes values (2)'), Error)
    expect((err as { code?: string }).code).toBe('25006')
    expect(lakebase.workspace.calls.databaseCredentials).toBe(1)
  })
})

describe('createPool options', () => {
  const credentials = connectBroker({ url: 'http://127.0.0.1:1', token: 't' })

  it.each([
    [{ credentials, max: 0 }, 'max'],
    [{ credentials, connectionTimeoutMillis: -1 }, 'connectionTimeoutMillis'],
    [{ credentials, sslMode: 'verify' }, 'sslMode'],
    [{ credentials: { get: 'nothing' } }, 'credentials'],
    [{ credentials, password: 'secret' }, 'password'],
    [{ credentials, host: 'db.example.com' }, 'host'],
    [{ credentials, ssl: true }, 'ssl'],
    [{ credentials, env: { PGSSLMODE: 'strict' } }, 'PGSSLMODE'],
    [{ credentials, readOnly: 'yes' }, 'readOnly'],
  ])('refuses %o, naming %s', (options, option) => {
    const build = () => createPool(options as CreatePoolOptions)
    expect(build).toThrow(LakebaseOptionError)
    try {
      build()
    } catch (err) {
      expect((err as LakebaseOptionError).option).toBe(option)
    }
  })
})
