import postgres from 'postgres'
import type { BrokerCredentials } from '../broker-client.js'
import type { SslMode } from '../credential.js'
import { sslOption } from '../tls.js'
import { CONNECT_TIMEOUT_S } from './database.js'
import { type MigrationSummary, runMigrations } from './migrate.js'
import { classify } from './sqlstate.js'
import { ensureWritableSchema } from './writable-schema.js'

/**
 * Applies the migrations as the broker's credential user (the same login the functions use, so
 * the tables belong to it), on one connection that is closed afterwards. A role that may not
 * create tables in its current schema (a Databricks App's role, under Postgres 15+) first gets
 * a schema of its own; see ensureWritableSchema.
 */
export async function migrateViaBroker(
  credentials: BrokerCredentials,
  sslMode?: SslMode,
): Promise<MigrationSummary & { user: string; host: string; database: string; schema: string }> {
  try {
    return await migrateOnce(credentials, sslMode)
  } catch (err) {
    if (classify(err) !== 'auth') throw err
    // Postgres refused the credential (another minter replaced it): report it, so the broker
    // mints a new one, and log in once more with that.
    credentials.forget()
    return migrateOnce(credentials, sslMode)
  }
}

async function migrateOnce(credentials: BrokerCredentials, sslMode?: SslMode) {
  const credential = await credentials.get()
  const sql = postgres({
    host: credential.host,
    port: credential.port,
    database: credential.database,
    username: credential.user,
    password: credential.password,
    ssl: sslOption(sslMode ?? credential.ssl, credential.host),
    max: 1,
    connect_timeout: CONNECT_TIMEOUT_S,
    onnotice: () => {},
    connection: { application_name: 'lakebase-migrate' },
  })
  try {
    const { schema } = await ensureWritableSchema(sql)
    const summary = await runMigrations(sql)
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
