import {
  type BrokerCredentials,
  brokerCredentials,
  LakebaseOptionError,
  type SslMode,
} from 'lakebase-broker'
import type { MigrationSummary } from './db/migrate.js'
import { migrateViaBroker } from './db/migrate-via-broker.js'

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** @default `brokerCredentials({ env })` */
  credentials?: BrokerCredentials
  /** TLS to Postgres. @default `PGSSLMODE`, else what the broker's credential says */
  sslMode?: SslMode
  /** @default `process.env` */
  env?: Record<string, string | undefined>
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
  return migrateViaBroker(c ?? brokerCredentials({ env }), options.sslMode, env)
}
