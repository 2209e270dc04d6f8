import { getLakebasePgConfig } from '@databricks/lakebase'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { preConnectClient } from './pre-connect-client.js'
import { drizzlePreferences, preferencesApp } from './preferences-app.js'
import { required, serveBench } from './serve.js'

/**
 * `@databricks/lakebase`: its own password callback — a token fetched lazily in the connect
 * path, cached until 2 minutes before expiry, one fetch shared by concurrent connects — on a `pg`
 * pool. The workspace client comes from `DATABRICKS_HOST`/`DATABRICKS_TOKEN`, the endpoint from
 * `LAKEBASE_ENDPOINT` (it supports Autoscaling only). The callback runs just before each socket
 * opens (see pre-connect-client.ts). The pool recycles its connections every
 * `BENCH_MAX_LIFETIME_S` (pg's `maxLifetimeSeconds`); each recycle is a rotation.
 */
const { password, ...config } = getLakebasePgConfig({
  host: required('PGHOST'),
  port: Number(required('PGPORT')),
  database: required('PGDATABASE'),
  user: required('PGUSER'),
  sslMode: 'disable',
  max: Number(process.env.LAKEBASE_POOL_MAX ?? 10),
})
if (typeof password !== 'function')
  throw new Error('@databricks/lakebase gave no password callback')
const pool = new pg.Pool({
  ...config,
  maxLifetimeSeconds: Number(required('BENCH_MAX_LIFETIME_S')),
  Client: preConnectClient(async () => String(await password())),
})
await serveBench(preferencesApp(drizzlePreferences(drizzle(pool))).fetch, () => pool.end())
