import { randomUUID } from 'node:crypto'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { preConnectClient } from './pre-connect-client.js'
import { drizzlePreferences, preferencesApp } from './preferences-app.js'
import { required, serveBench } from './serve.js'

/**
 * What the original Python app did: no cache at all — every new Postgres connection first asks
 * the workspace for a fresh database token (`POST /api/2.0/database/credentials`, Provisioned,
 * as its `generate_database_credential` call in SQLAlchemy's `do_connect` hook did). The pool
 * recycles its connections every `BENCH_MAX_LIFETIME_S`; each recycle is this design's rotation.
 */
const workspace = required('DATABRICKS_HOST')
const pat = required('DATABRICKS_TOKEN')
const instance = required('LAKEBASE_INSTANCE_NAME')

async function freshToken(): Promise<string> {
  const response = await fetch(`${workspace}/api/2.0/database/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
    body: JSON.stringify({ instance_names: [instance], request_id: randomUUID() }),
  })
  if (!response.ok) throw new Error(`the workspace answered ${response.status}`)
  return ((await response.json()) as { token: string }).token
}

const pool = new pg.Pool({
  host: required('PGHOST'),
  port: Number(required('PGPORT')),
  database: required('PGDATABASE'),
  user: required('PGUSER'),
  ssl: false,
  max: Number(process.env.LAKEBASE_POOL_MAX ?? 10),
  maxLifetimeSeconds: Number(required('BENCH_MAX_LIFETIME_S')),
  Client: preConnectClient(freshToken),
})
await serveBench(preferencesApp(drizzlePreferences(drizzle(pool))).fetch, () => pool.end())
