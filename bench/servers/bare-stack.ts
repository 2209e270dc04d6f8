import { Hono } from 'hono'
import postgres from 'postgres'
import type { Credential } from '../../shared/client/credential.js'
import { POINT_SELECT_SQL } from './queries.js'
import { required, serveBench } from './serve.js'

/**
 * The stack's own limit for `GET /api/preferences`: the route written by hand as anyone would with
 * Hono and postgres.js — a fixed password (`BENCH_STATIC_CREDENTIAL`), the user from
 * `X-Forwarded-Email`, the query prepared, the rows as JSON — and nothing
 * else: no validation, no retries, no metrics, no error body.
 */
const credential = JSON.parse(required('BENCH_STATIC_CREDENTIAL')) as Credential
const sql = postgres({
  host: credential.host,
  port: credential.port,
  database: credential.database,
  username: credential.user,
  password: credential.password,
  max: Number(process.env.LAKEBASE_POOL_MAX ?? 10),
  onnotice: () => {},
})
const app = new Hono()
app.get('/api/preferences', async (c) => {
  const user = c.req.header('x-forwarded-email')
  if (!user) return c.json({ detail: { error_code: 'AUTH_REQUIRED' } }, 401)
  return c.json(await sql.unsafe(POINT_SELECT_SQL, [user], { prepare: true }))
})
await serveBench(app.fetch, () => sql.end())
