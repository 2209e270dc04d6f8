import { z } from 'zod'
import { SSL_MODES, type SslMode } from './credential.js'
import { type Env, envValue } from './env.js'

export const DEFAULT_PG_PORT = 5432
export const DEFAULT_SSL_MODE: SslMode = 'require'

/** `PGSSLMODE` as one of the modes this project understands (`require` when unset). */
export function sslModeFrom(env: Env): SslMode {
  const raw = envValue(env, 'PGSSLMODE') ?? DEFAULT_SSL_MODE
  const parsed = z.enum(SSL_MODES).safeParse(raw)
  if (!parsed.success) throw new Error(`PGSSLMODE must be one of ${SSL_MODES.join(', ')}`)
  return parsed.data
}

/** `PGPORT`/`LAKEBASE_PORT` as a port number (5432 when unset). */
export function pgPortFrom(env: Env): number {
  const raw = envValue(env, 'PGPORT', 'LAKEBASE_PORT')
  if (raw === undefined) return DEFAULT_PG_PORT
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error('PGPORT must be a port number from 1 to 65535')
  }
  return port
}
