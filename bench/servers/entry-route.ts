import { Hono } from 'hono'
import pg from 'pg'
import { brokerCredentials, type Credential } from '../../shared/client/index.js'
import { createPool } from '../../shared/pg/index.js'
import { createSql } from '../../shared/postgres/index.js'
import { POINT_SELECT_SQL } from './queries.js'
import { required, serveBench } from './serve.js'

/**
 * `GET /api/preferences` written against one of the package's driver entries, as a user of it
 * would: `lakebase-broker/postgres` (`createSql`) or `lakebase-broker/pg` (`createPool`), chosen by
 * `BENCH_DRIVER`, both on broker credentials (`LAKEBASE_BROKER_URL`, `LAKEBASE_BROKER_TOKEN`) and
 * both running the query prepared (a tagged template; a named pg statement), so the comparison is
 * the drivers and their wrappers, nothing else. `BENCH_DRIVER=raw-pg` is the same route on a bare
 * `pg.Pool` with a fixed password (`BENCH_STATIC_CREDENTIAL`): what createPool adds over pg.
 */
type Select = (user: string) => Promise<unknown[]>

const driver = required('BENCH_DRIVER')
const credentials = brokerCredentials({ env: process.env })
let select: Select
let close: () => Promise<unknown>
if (driver === 'postgres') {
  const sql = createSql({ credentials, env: process.env })
  select = (user) => sql.unsafe(POINT_SELECT_SQL, [user], { prepare: true })
  close = () => sql.end()
} else if (driver === 'pg') {
  const pool = createPool({ credentials, env: process.env })
  select = async (user) =>
    (await pool.query({ name: 'preferences', text: POINT_SELECT_SQL, values: [user] })).rows
  close = () => pool.end()
} else if (driver === 'raw-pg') {
  // createPool's floor: pg.Pool with the fixed password the bare stack uses, createPool's default
  // pool size (pg's 10), the same named statement.
  const credential = JSON.parse(required('BENCH_STATIC_CREDENTIAL')) as Credential
  const pool = new pg.Pool({
    host: credential.host,
    port: credential.port,
    database: credential.database,
    user: credential.user,
    password: credential.password,
    max: 10,
  })
  select = async (user) =>
    (await pool.query({ name: 'preferences', text: POINT_SELECT_SQL, values: [user] })).rows
  close = () => pool.end()
} else {
  throw new Error(`BENCH_DRIVER must be postgres, pg or raw-pg, not ${driver}`)
}

const app = new Hono()
app.get('/api/preferences', async (c) => {
  const user = c.req.header('x-forwarded-email')
  if (!user) return c.json({ detail: { error_code: 'AUTH_REQUIRED' } }, 401)
  return c.json(await select(user))
})
await serveBench(app.fetch, close)
