import type { BrokerCredentials } from '../shared/broker-client.js'
import { brokerCredentials } from '../shared/broker-credentials.js'
import type { SslMode } from '../shared/credential.js'
import type { MigrationSummary } from '../shared/db/migrate.js'
import { migrateViaBroker } from '../shared/db/migrate-via-broker.js'
import type { Env } from '../shared/env.js'
import { LakebaseOptionError } from '../shared/errors.js'
import { sslModeFrom } from '../shared/pg-settings.js'

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** @default `brokerCredentials({ env })` */
  credentials?: BrokerCredentials
  /** TLS to Postgres. @default `PGSSLMODE`, else what the broker's credential says */
  sslMode?: SslMode
  /** @default `process.env` */
  env?: Env
}

/** What {@link migrate} did, and where. */
export type MigrateResult = MigrationSummary & {
  user: string
  host: string
  database: string
  schema: string
}

/**
 * Applies this package's migrations (the functions' tables) through broker credentials, as the
 * credential's user, under an advisory lock so that concurrent starts apply them once.
 */
export async function migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
  const c = options.credentials
  if (c !== undefined && typeof c?.get !== 'function') {
    throw new LakebaseOptionError('credentials', 'must come from brokerCredentials()')
  }
  const env = options.env ?? process.env
  const sslMode = options.sslMode ?? (env.PGSSLMODE ? sslModeFrom(env) : undefined)
  return migrateViaBroker(c ?? brokerCredentials({ env }), sslMode)
}
