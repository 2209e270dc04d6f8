import { createRoute, z } from '@hono/zod-openapi'
import type { BrokerCredentials } from 'lakebase-broker'
import { LakebaseError } from 'lakebase-broker'
import type { FunctionsDatabase } from '../db/database.js'
import { migrationStatus } from '../db/migration-status.js'
import { openApiRouter } from '../validation.js'

/** The database check's answer, healthy (200) or not (503). */
const databaseHealthSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    latency_ms: z.number().nullable().openapi({ description: 'A `select 1` round trip' }),
    credential: z
      .object({
        source: z.string(),
        user: z.string(),
        host: z.string(),
        database: z.string(),
        expires_at: z.iso.datetime({ offset: true }),
        expires_in_s: z.number().int(),
        stale: z.boolean(),
        upstream_error: z
          .object({
            error_class: z.string(),
            kind: z.enum(['transient', 'permanent']),
            message: z.string(),
            fix: z.string(),
          })
          .optional()
          .openapi({
            description:
              "With `stale`: why the broker's refresh failed and what to do; the credential still works until it expires",
          }),
      })
      .nullable()
      .openapi({ description: 'The broker credential in use, without its password' }),
    migrations: z
      .object({ applied: z.number().int(), pending: z.number().int() })
      .nullable()
      .openapi({
        description:
          'Migrations applied to this database and still pending (run `npm run migrate`); null when unknown',
      }),
    pool: z.object({
      max: z.number().int(),
      open: z.number().int(),
      logins: z.number().int(),
      closes: z.number().int(),
      login_user: z.string().nullable(),
    }),
    error: z
      .object({
        error_code: z.string(),
        message: z.string(),
        retry_after: z.number().int().nullable().optional(),
      })
      .optional()
      .openapi({ description: 'Why the check failed (503 only)' }),
  })
  .openapi('DatabaseHealth')

/** `/api/health` (the process) and `/api/health/database` (a real round trip to Postgres). */
export function healthRoutes(
  database: FunctionsDatabase,
  credentials: BrokerCredentials,
  now: () => number = Date.now,
) {
  return openApiRouter()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        summary: 'The process is up',
        tags: ['health'],
        responses: {
          200: {
            description: 'Always, while the process serves requests',
            content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
          },
        },
      }),
      (c) => c.json({ status: 'ok' as const }, 200),
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/database',
        summary: 'Postgres answers through a broker credential',
        tags: ['health'],
        responses: {
          200: {
            description: 'A query ran',
            content: { 'application/json': { schema: databaseHealthSchema } },
          },
          503: {
            description: 'No query could run; `error` says why',
            content: { 'application/json': { schema: databaseHealthSchema } },
          },
        },
      }),
      async (c) => {
        let latency: number | null = null
        let error: { error_code: string; message: string; retry_after?: number | null } | null =
          null
        let migrations: { applied: number; pending: number } | null = null
        try {
          latency = await database.ping()
          migrations = await migrationsOf(database)
        } catch (err) {
          error =
            err instanceof LakebaseError
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
              ...(held.upstreamError
                ? {
                    upstream_error: {
                      error_class: held.upstreamError.errorClass,
                      kind: held.upstreamError.kind,
                      message: held.upstreamError.message,
                      fix: held.upstreamError.fix,
                    },
                  }
                : {}),
            }
          : null
        const healthy = error === null
        const body = {
          status: healthy ? ('ok' as const) : ('unavailable' as const),
          latency_ms: latency,
          credential,
          migrations,
          pool: database.stats(),
          ...(error ? { error } : {}),
        }
        return healthy ? c.json(body, 200) : c.json(body, 503)
      },
    )
}

/**
 * Applied and pending migrations, or null when they cannot be counted (e.g. a host without the
 * migrations folder, such as a Worker): not knowing is no reason to call the database unhealthy.
 */
async function migrationsOf(database: FunctionsDatabase) {
  try {
    const status = await migrationStatus(await database.sql())
    return { applied: status.applied, pending: Math.max(0, status.known - status.applied) }
  } catch {
    return null
  }
}
