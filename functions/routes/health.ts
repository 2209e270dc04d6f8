import { Hono } from 'hono'
import type { BrokerCredentials } from '../../shared/broker-client.js'
import type { Database } from '../../shared/db/database.js'
import { AppError } from '../../shared/errors.js'

/** `/api/health` (the process) and `/api/health/database` (a real round trip to Postgres). */
export function healthRoutes(
  database: Database,
  credentials: BrokerCredentials,
  now: () => number = Date.now,
) {
  return new Hono()
    .get('/', (c) => c.json({ status: 'ok' }))
    .get('/database', async (c) => {
      let latency: number | null = null
      let error: Record<string, unknown> | null = null
      try {
        latency = await database.ping()
      } catch (err) {
        error =
          err instanceof AppError
            ? { error_code: err.code, message: err.message, retry_after: err.retryAfter }
            : { error_code: 'DATABASE_UNAVAILABLE', message: 'The database check failed' }
      }
      const held = credentials.current()
      const credential = held
        ? {
            source: held.source,
            user: held.user,
            host: held.host,
            database: held.database,
            expires_at: held.expiresAt,
            expires_in_s: Math.floor((Date.parse(held.expiresAt) - now()) / 1000),
            stale: held.stale,
          }
        : null
      const healthy = error === null
      return c.json(
        {
          status: healthy ? 'ok' : 'unavailable',
          latency_ms: latency,
          credential,
          pool: database.stats(),
          ...(error ? { error } : {}),
        },
        healthy ? 200 : 503,
      )
    })
}
