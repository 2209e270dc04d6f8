import { drizzle } from 'drizzle-orm/postgres-js'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { connectBroker } from '../../../shared/client/broker-client.js'
import { LakebaseError, LakebaseOptionError } from '../../../shared/client/errors.js'
import { type CreateSqlOptions, createSql, sqlStats } from '../../../shared/postgres/create-sql.js'
import { MAX_CONFLICT_RETRIES } from '../../../shared/postgres/retry-policy.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from '../../support/broker.js'
import { captureLogs } from '../../support/capture-logs.js'
import { lakebaseLike } from '../../support/lakebase-like.js'
import { adminSql, createTestDatabase } from '../../support/postgres.js'
import { rejectionOf } from '../../support/rejection.js'
import { tcpProxy } from '../../support/tcp-proxy.js'
import { waitFor } from '../../support/wait-for.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** How long a condition here may take: a mint, the readers' next statements, a report. */
const WITHIN_MS = 10_000

/** A broker (static provider: the suite's superuser) on a fresh database, and createSql on it. */
async function staticStack(options: Partial<CreateSqlOptions> = {}, port?: number) {
  const db = await createTestDatabase('sql')
  cleanup.push(() => db.drop())
  const { broker } = await startTestBroker(staticBrokerEnv(db, port ?? db.port))
  cleanup.push(() => broker.close())
  const logs = captureLogs('sql')
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const sql = createSql({ credentials, logger: logs.logger, max: 2, ...options })
  cleanup.push(() => sql.end({ timeout: 1 }))
  return { db, broker, sql, logs, credentials }
}

describe('createSql options', () => {
  it.each([
    [{ host: 'elsewhere' }, 'host'],
    [{ password: 'x' }, 'password'],
    [{ max: 0 }, 'max'],
    [{ sslMode: 'sometimes' }, 'sslMode'],
    [{ credentials: {} }, 'credentials'],
    [{ idle_timeout: -1 }, 'idle_timeout'],
    [{ wakeTimeoutMs: Number.NaN }, 'wakeTimeoutMs'],
    [{ env: { PGSSLMODE: 'verify-maybe' } }, 'env.PGSSLMODE'],
    [{ readOnly: 'yes' }, 'readOnly'],
  ])('refuses %j when built, naming %s', (options, name) => {
    let thrown: unknown
    try {
      createSql(options as CreateSqlOptions)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(LakebaseOptionError)
    expect((thrown as LakebaseOptionError).option).toBe(name)
  })
})

describe('createSql', () => {
  it('logs in with the broker credential found from the environment, as postgres.js does everything else', async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const { broker } = await startTestBroker(lakebase.brokerEnv)
    cleanup.push(() => broker.close())
    const sql = createSql({
      env: {
        LAKEBASE_BROKER_URL: broker.url,
        LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
        PGSSLMODE: 'disable',
      },
      max: 2,
      connection: { application_name: 'create-sql-test' },
    })
    cleanup.push(() => sql.end({ timeout: 1 }))

    const [row] = await sql`
      select current_user as who, current_setting('statement_timeout') as timeout,
        current_setting('application_name') as app, ${41}::int + 1 as n ${sql`, 'nested' as f`}`
    expect(row).toEqual({
      who: lakebase.role,
      timeout: '30s',
      app: 'create-sql-test',
      n: 42,
      f: 'nested',
    })
    expect(await sql.unsafe('select $1::text as t', ['x'])).toEqual([{ t: 'x' }])
    expect(await sql`select 1 as a, 2 as b`.values()).toEqual([[1, 2]])
    expect(await sql.begin(async (tx) => (await tx`select 3 as c`)[0]?.c)).toBe(3)
    expect((await drizzle(sql).execute('select 4 as d'))[0]?.d).toBe(4)
    expect(sqlStats(sql)).toMatchObject({ login_user: lakebase.role, max: 2 })
  })

  it('fails fast with CREDENTIAL_UNAVAILABLE when the broker holds no valid credential', async () => {
    const { broker } = await startTestBroker({
      LAKEBASE_PROVIDER: 'command',
      LAKEBASE_CREDENTIAL_COMMAND: 'exit 1',
    })
    cleanup.push(() => broker.close())
    const sql = createSql({
      credentials: connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }),
    })
    cleanup.push(() => sql.end({ timeout: 1 }))
    const started = performance.now()
    const err = await rejectionOf(sql`select 1`, LakebaseError)
    expect(err).toMatchObject({ status: 503, code: 'CREDENTIAL_UNAVAILABLE' })
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(sqlStats(sql)?.logins).toBe(0)
  })

  it('serves reads through 3 rotations and killed backends under load with 0 failures', async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const brokerClock = new ManualClock(Date.now())
    const { broker } = await startTestBroker(lakebase.brokerEnv, { clock: brokerClock })
    cleanup.push(() => broker.close())
    const logs = captureLogs('sql')
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    // fetch_types off: postgres.js 3.4.9 drops the promise of the array-types query each new
    // connection runs, so a backend killed while it runs (this test kills them under load) makes
    // an unhandled rejection no caller can see (porsager/postgres#1192, #1223; README,
    // Troubleshooting). It was seen once here; this test is about createSql's own promises.
    const sql = createSql({
      credentials,
      logger: logs.logger,
      sslMode: 'disable',
      max: 4,
      fetch_types: false,
    })
    cleanup.push(() => sql.end({ timeout: 1 }))
    const admin = adminSql()
    cleanup.push(() => admin.end())
    await sql`select 1`

    let stop = false
    const outcomes = { ok: 0, failed: [] as string[] }
    const lastOk: number[] = []
    const reader = async (_: unknown, i: number) => {
      while (!stop) {
        try {
          const [row] = await sql`select current_user as who, pg_sleep(0.01)`
          if (row?.who === lakebase.role) outcomes.ok += 1
          lastOk[i] = performance.now()
        } catch (err) {
          outcomes.failed.push(String((err as { code?: string }).code ?? err))
        }
      }
    }
    const readers = Array.from({ length: 6 }, reader)
    const cache = broker.caches.get('default')
    for (let rotation = 1; rotation <= 3; rotation++) {
      const refreshAt = cache?.status().refreshAt ?? Number.NaN
      const minted = lakebase.workspace.credentials.length
      await brokerClock.advance(refreshAt - brokerClock.now())
      await waitFor(() => lakebase.workspace.credentials.length > minted, {
        what: `rotation ${rotation} mints`,
        timeoutMs: WITHIN_MS,
      })
      // Every open connection dies; the next logins need the new token.
      const killedAt = performance.now()
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
      // Each reader's statement in flight got through; the next kill meets new statements.
      await waitFor(() => readers.every((_, i) => (lastOk[i] ?? 0) > killedAt), {
        what: 'every reader gets through after the kill',
        timeoutMs: WITHIN_MS,
      })
    }
    stop = true
    await Promise.all(readers)

    expect(outcomes.failed).toEqual([])
    // Three rotations, and at most one forced refresh in each window: a connection refused with
    // the old token after the client took the new one reports the new one, and the broker's
    // BROKER_FORCED_REFRESH_MIN_S caps that at one mint.
    expect(lakebase.workspace.credentials.length).toBeGreaterThanOrEqual(4)
    expect(lakebase.workspace.credentials.length).toBeLessThanOrEqual(8)
    // The client ends on the newest credential. Open connections outlive a rotation (a token is
    // checked at login only), and a login under way during the last kill may have escaped it with
    // the previous token; then no login was refused and the client still holds that token, as it
    // may until its refresh point. One more kill with the pool idle: the next statement logs in
    // again, and a refusal, if the token is old, brings the newest (the broker may still be
    // answering a report from the last moments: wait for it).
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
    await sql`select 1`
    await waitFor(
      () => credentials.current()?.password === lakebase.workspace.credentials.at(-1)?.token,
      { what: 'the client holds the newest credential', timeoutMs: WITHIN_MS },
    )
    expect(logs.text()).toContain('"failure":"auth"')
    expect(logs.text()).toContain('"failure":"connection"')
    for (const minted of lakebase.workspace.minted) expect(logs.text()).not.toContain(minted)
  })

  it('retries a serialization failure with jitter, a bounded number of times, and never inside a transaction', async () => {
    const { db, sql } = await staticStack()
    await db.sql.unsafe(`
      create sequence tries;
      create function collide(fail_times int) returns int language plpgsql as $$
      begin
        if nextval('tries') <= fail_times then
          raise exception 'could not serialize access' using errcode = '40001';
        end if;
        return 1;
      end $$`)
    const tries = async () => (await db.sql`select last_value::int as n from tries`)[0]?.n

    expect(await sql`select collide(2) as ok`).toEqual([{ ok: 1 }])
    expect(await tries()).toBe(3)

    await db.sql`select setval('tries', 1, false)`
    const err = await rejectionOf(sql`select collide(100)`, Error)
    expect((err as { code?: string }).code).toBe('40001')
    expect(await tries()).toBe(1 + MAX_CONFLICT_RETRIES)

    await db.sql`select setval('tries', 1, false)`
    await rejectionOf(
      sql.begin((tx) => tx`select collide(1)`),
      Error,
    )
    expect(await tries()).toBe(1)
  })

  it('waits for a server that starts listening within the wake budget', async () => {
    const proxy = await tcpProxy(inject('postgres'))
    cleanup.push(() => proxy.close())
    const { sql } = await staticStack({ wakeTimeoutMs: 5_000 }, proxy.port)
    const answer = sql`select 1 as awake`
    const settled = answer.then((rows) => rows)
    setTimeout(() => void proxy.listen(), 400)
    expect(await settled).toEqual([{ awake: 1 }])
  })

  it('fails at once on a permanent error, without waiting for a wake', async () => {
    const { sql } = await staticStack({ wakeTimeoutMs: 10_000 })
    const started = performance.now()
    const err = await rejectionOf(sql`select * from no_such_table`, Error)
    expect((err as { code?: string }).code).toBe('42P01')
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('does not retry a write whose answer was lost after it committed, but retries a read', async () => {
    const proxy = await tcpProxy(inject('postgres'))
    cleanup.push(() => proxy.close())
    await proxy.listen()
    const { sql, logs } = await staticStack({ max: 1 }, proxy.port)
    // The pool's one connection is open, so what the proxy drops next is an answer.
    await sql`create table t (id int primary key)`

    const dropped = proxy.dropNextAnswer()
    const write = rejectionOf(sql`insert into t values (1) returning id`, Error)
    await dropped
    expect(((await write) as { code?: string }).code).toMatch(/CONNECTION_CLOSED|ECONNRESET/)
    // It committed, once: a retry would have failed on the primary key or inserted twice.
    expect(await sql`select id from t`).toEqual([{ id: 1 }])
    expect(logs.text()).toMatch(
      /"statement":"insert into t values \(1\) returning id","ran":true,"retry":false/,
    )

    const droppedRead = proxy.dropNextAnswer()
    // A query runs once awaited: start it before waiting for its answer to be dropped.
    const read = sql`select count(*)::int as n from t`.then((rows) => rows)
    await droppedRead
    expect(await read).toEqual([{ n: 1 }])
  })
})

describe('createSql({ readOnly: true })', () => {
  /**
   * A Lakebase-like instance whose primary host does not resolve and whose `read_only_dns` is the
   * suite's Postgres: only a client sent to the read-only companion can reach it.
   */
  async function replicaStack() {
    const lakebase = await lakebaseLike({
      lifetimeS: 3600,
      workspace: {
        instances: [
          {
            name: 'test-instance',
            read_write_dns: 'primary.invalid',
            read_only_dns: inject('postgres').host,
          },
        ],
      },
    })
    cleanup.push(() => lakebase.close())
    // No PGHOST: the broker looks the instance up, which is what names its read_only_dns.
    const { PGHOST: _, ...brokerEnv } = lakebase.brokerEnv
    const { broker } = await startTestBroker(brokerEnv)
    cleanup.push(() => broker.close())
    await lakebase.db.sql.unsafe(
      `create table notes (n int); insert into notes values (1);
       grant select, insert on notes to "${lakebase.role}"`,
    )
    const logs = captureLogs('sql')
    const sql = createSql({
      env: {
        LAKEBASE_BROKER_URL: broker.url,
        LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
        PGSSLMODE: 'disable',
      },
      readOnly: true,
      logger: logs.logger,
      max: 2,
    })
    cleanup.push(() => sql.end({ timeout: 1 }))
    return { lakebase, broker, sql, logs }
  }

  it("logs in with the broker's default-ro credential over HTTP, reads, and Postgres refuses its writes (25006)", async () => {
    const { lakebase, sql } = await replicaStack()

    const [row] = await sql`
      select current_user as who, current_setting('default_transaction_read_only') as ro,
        count(*)::int as n from notes`
    expect(row).toEqual({ who: lakebase.role, ro: 'on', n: 1 })
    const err = await rejectionOf(sql`insert into notes values (2)`, Error)
    expect((err as { code?: string }).code).toBe('25006')
    // Inside a transaction too, and nothing was written.
    const inTx = await rejectionOf(
      sql.begin((tx) => tx`insert into notes values (3)`),
      Error,
    )
    expect((inTx as { code?: string }).code).toBe('25006')
    expect(await lakebase.db.sql`select count(*)::int as n from notes`).toEqual([{ n: 1 }])
    // One mint: the companion serves the primary's credential.
    expect(lakebase.workspace.calls.databaseCredentials).toBe(1)
    expect(sqlStats(sql)?.login_user).toBe(lakebase.role)
  })

  it('retries a statement the text rule takes for a write after its connection dropped mid-statement', async () => {
    const { lakebase, sql, logs } = await replicaStack()
    const admin = adminSql()
    cleanup.push(() => admin.end())
    await sql`select 1`

    // `"update"` makes the text look like a write; in a read-only session nothing can write.
    const answer = sql`select pg_sleep(0.5), count(*)::int as "update" from notes`.then(
      (rows) => rows,
    )
    await waitFor(
      async () => {
        const [busy] = await admin`
          select count(*)::int as n from pg_stat_activity
          where usename = ${lakebase.role} and query like '%pg_sleep(0.5)%' and state = 'active'`
        return (busy?.n ?? 0) > 0
      },
      { what: 'the statement runs', timeoutMs: WITHIN_MS, everyMs: 20 },
    )
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
    expect((await answer)[0]).toMatchObject({ update: 1 })
    expect(logs.text()).toMatch(/"ran":true,"retry":true/)
  })
})
