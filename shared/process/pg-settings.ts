import type { SslMode } from '../client/credential.js'
import { postgresSettings } from './common-settings.js'
import type { Env } from './env.js'
import { parseSettings } from './settings.js'

export const DEFAULT_PG_PORT = 5432
export const DEFAULT_SSL_MODE: SslMode = 'require'

const { PGPORT, LAKEBASE_PORT, PGSSLMODE } = postgresSettings

/**
 * `PGSSLMODE` as one of the modes this project understands (`require` when unset).
 *
 * @throws ConfigError naming the variable.
 */
export function sslModeFrom(env: Env): SslMode {
  return parseSettings({ PGSSLMODE }, env).PGSSLMODE ?? DEFAULT_SSL_MODE
}

/**
 * `PGPORT`, else `LAKEBASE_PORT`, as a port number (5432 when unset).
 *
 * @throws ConfigError naming the variable.
 */
export function pgPortFrom(env: Env): number {
  const ports = parseSettings({ PGPORT, LAKEBASE_PORT }, env)
  return ports.PGPORT ?? ports.LAKEBASE_PORT ?? DEFAULT_PG_PORT
}
