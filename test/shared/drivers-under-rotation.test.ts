import { afterEach, describe, expect, it } from 'vitest'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { type BrokerCredentials, connectBroker } from '../../shared/client/broker-client.js'
import { sqlstateOf } from '../../shared/client/sqlstate.js'
import { createPool } from '../../shared/pg/create-pool.js'
import { createSql, sqlStats } from '../../shared/postgres/create-sql.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { lakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { waitFor } from '../support/wait-for.js'

/** Rotations to live through, each followed by killing every backend of the role. */
const ROTATIONS = 3
/** Callers querying at once: more than the pool holds, so some always wait for a client. */
const WORKERS = 8
const POOL_SIZE = 4
/** Answers each driver must give between two rotations, so that each lands under load. */
const ANSWERS_PER_ROUND = 40

/** One driver entry as a service uses it; the lead can swap in createSql here. */
interface DriverUnderTest {
  name: string
  open(credentials: BrokerCredentials): {
    /** One read, the kind of query a handler makes; resolves to its answer. */
    read(i: number): Promise<number>
    /** Logins the driver made (password asked for). */
    logins(): number
    close(): Promise<void>
  }
}

const drivers: DriverUnderTest[] = [
  {
    name: 'postgres.js (createSql)',
    open(credentials) {
      const sql = createSql({ credentials, env: {}, max: POOL_SIZE })
      return {
        async read(i) {
          const [row] = await sql`select ${i}::int as n from pg_sleep(${i % 4 === 0 ? 0.02 : 0})`
          return Number(row?.n)
        },
        logins: () => sqlStats(sql)?.logins ?? 0,
        close: () => sql.end(),
      }
    },
  },
  {
    name: "postgres.js (the functions' Database, drizzle over createSql)",
    open(credentials) {
      const database = new FunctionsDatabase({ credentials, max: POOL_SIZE })
      return {
        async read(i) {
          const [row] = await database.run((db) =>
            db.execute(`select ${i}::int as n from pg_sleep(${i % 4 === 0 ? 0.02 : 0})`),
          )
          return Number(row?.n)
        },
        logins: () => database.stats().logins,
        close: () => database.close(),
      }
    },
  },
  {
    name: 'pg (createPool)',
    open(credentials) {
      const pool = createPool({ credentials, env: {}, max: POOL_SIZE })
      return {
        async read(i) {
          const { rows } = await pool.query(
            `select $1::int as n from pg_sleep(${i % 4 === 0 ? 0.02 : 0})`,
            [i],
          )
          return Number(rows[0]?.n)
        },
        logins: () => pool.stats().logins,
        close: () => pool.end(),
      }
    },
  },
]

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** How long a round's answers, or a rotation, may take. */
const WITHIN_MS = 10_000

describe.each(drivers)('$name under rotations and killed backends', (driver) => {
  it(`answers every query through ${ROTATIONS} rotations on the strict Postgres`, async () => {
    const lakebase = await lakebaseLike({ lifetimeS: 3600 })
    cleanup.push(() => lakebase.close())
    const brokerClock = new ManualClock(Date.now())
    const { broker } = await startTestBroker(lakebase.brokerEnv, { clock: brokerClock })
    cleanup.push(() => broker.close())
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    const db = driver.open(credentials)
    cleanup.push(() => db.close())
    const admin = adminSql()
    cleanup.push(() => admin.end())
    const cache = broker.caches.get('default')
    if (!cache) throw new Error('no default target')

    let answered = 0
    let stopping = false
    const failures: string[] = []
    const worker = async (w: number) => {
      for (let i = w; !stopping; i += WORKERS) {
        try {
          const n = await db.read(i)
          if (n !== i) failures.push(`wrong answer ${n} for ${i}`)
          answered += 1
        } catch (err) {
          failures.push(`${sqlstateOf(err) ?? 'no code'}: ${(err as Error).message}`)
        }
      }
    }
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w))

    const killed: number[] = []
    for (let round = 1; round <= ROTATIONS; round++) {
      const target = answered + ANSWERS_PER_ROUND
      await waitFor(() => answered >= target || failures.length > 0, {
        what: `round ${round} is answered`,
        timeoutMs: WITHIN_MS,
      })
      // The broker rotates: the previous token stops working at login; the client still holds it.
      const before = cache.status().history.length
      await brokerClock.advance((cache.status().refreshAt ?? Number.NaN) - brokerClock.now())
      await waitFor(() => cache.status().history.length > before, {
        what: `rotation ${round}`,
        timeoutMs: WITHIN_MS,
      })
      const rows = await admin`
        select pg_terminate_backend(pid) as gone from pg_stat_activity where usename = ${lakebase.role}`
      killed.push(rows.filter((r) => r.gone).length)
    }
    const target = answered + ANSWERS_PER_ROUND
    await waitFor(() => answered >= target || failures.length > 0, {
      what: 'the last round is answered',
      timeoutMs: WITHIN_MS,
    })
    stopping = true
    await Promise.all(workers)

    expect(failures).toEqual([])
    expect(answered).toBeGreaterThanOrEqual((ROTATIONS + 1) * ANSWERS_PER_ROUND)
    // One credential per rotation, plus at most one forced refresh in each rotation's window: a
    // connection that logged in with the previous token and was refused after the client had
    // already taken the new one reports the new one (drivers cannot say which password failed),
    // and the broker's BROKER_FORCED_REFRESH_MIN_S window caps that at one mint.
    expect(lakebase.workspace.credentials.length).toBeGreaterThanOrEqual(ROTATIONS + 1)
    expect(lakebase.workspace.credentials.length).toBeLessThanOrEqual(2 * (ROTATIONS + 1))
    // Every round killed connections in use, and logging in again needed the newest token.
    expect(killed.every((n) => n > 0)).toBe(true)
    expect(db.logins()).toBeGreaterThan(ROTATIONS + POOL_SIZE)
    expect(credentials.current()?.password).toBe(lakebase.workspace.credentials.at(-1)?.token)
    if (process.env.SHOW_FIGURES)
      console.log(driver.name, { answered, killed, logins: db.logins() })
  })
})
