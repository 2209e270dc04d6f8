import type { BrokerCredentials, SslMode } from 'lakebase-broker'
import { createSql } from 'lakebase-broker/postgres'
import { type MigrationSummary, runMigrations } from './migrate.js'
import { ensureWritableSchema } from './writable-schema.js'

/** How long a migration's login may take, a wait for the broker after a refused login included. */
export const MIGRATE_CONNECT_TIMEOUT_S = 30

/**
 * Applies the migrations as the broker's credential user (the same login the functions use, so
 * the tables belong to it), on one connection that is closed afterwards. A role that may not
 * create tables in its current schema (a Databricks App's role, under Postgres 15+) first gets
 * a schema of its own; see ensureWritableSchema. The connection comes from `createSql`, so a
 * login refused after a rotation (28P01) is reported to the broker and retried with a fresh
 * credential.
 */
export async function migrateViaBroker(
  credentials: BrokerCredentials,
  sslMode?: SslMode,
  /** Where `PGSSLMODE` and `PGSSLROOTCERT` are read when `sslMode` is not given. */
  env: Record<string, string | undefined> = process.env,
): Promise<MigrationSummary & { user: string; host: string; database: string; schema: string }> {
  const sql = createSql({
    credentials,
    sslMode,
    env,
    max: 1,
    // A person waits on a migration: a login refused right after a forced refresh may wait out
    // the broker's window for the next one (BROKER_FORCED_REFRESH_MIN_S, 10 s by default).
    connect_timeout: MIGRATE_CONNECT_TIMEOUT_S,
    // A migration may take longer than the functions' 30 s statement limit.
    connection: { application_name: 'lakebase-migrate', statement_timeout: 0 },
  })
  try {
    const { schema } = await ensureWritableSchema(sql)
    const summary = await runMigrations(sql)
    const credential = await credentials.get()
    return {
      ...summary,
      schema,
      user: credential.user,
      host: credential.host,
      database: credential.database,
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
}
