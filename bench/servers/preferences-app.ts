import { asc, eq } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { Hono } from 'hono'
import { userPreferences } from '../../functions/db/schema.js'

/** The user's preferences as `GET /api/preferences` returns them. */
export type SelectPreferences = (userId: string) => Promise<unknown[]>

/** The functions' query (functions/routes/preferences.ts) on any drizzle Postgres driver. */
export function drizzlePreferences(db: PgDatabase<PgQueryResultHKT>): SelectPreferences {
  return (userId) =>
    db
      .select({
        id: userPreferences.id,
        user_id: userPreferences.user_id,
        preference_key: userPreferences.preference_key,
        preference_value: userPreferences.preference_value,
        created_at: userPreferences.created_at,
        updated_at: userPreferences.updated_at,
      })
      .from(userPreferences)
      .where(eq(userPreferences.user_id, userId))
      .orderBy(asc(userPreferences.preference_key))
}

/** The innermost cause of a (drizzle-wrapped) driver error: its code and message. */
function rootCause(err: unknown): string {
  let e = err
  for (let depth = 0; depth < 5 && (e as { cause?: unknown })?.cause; depth++) {
    e = (e as { cause: unknown }).cause
  }
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown }
  return `${String(code ?? '')} ${String(message ?? e)}`.trim()
}

/**
 * A minimal stand-in for the functions' `GET /api/preferences` for the alternative designs: the
 * user from `X-Forwarded-Email`, the same query, and any failure answered 503 — no retry, as the
 * designs they stand for had none.
 */
export function preferencesApp(select: SelectPreferences): Hono {
  const app = new Hono()
  app.get('/api/preferences', async (c) => {
    const user = c.req.header('x-forwarded-email')
    if (!user) return c.json({ detail: { error_code: 'AUTH_REQUIRED' } }, 401)
    try {
      return c.json(await select(user))
    } catch (err) {
      const cause = rootCause(err)
      // One JSON line per failure (the functions' log shape), for the bench's summary.
      console.error(JSON.stringify({ level: 50, msg: 'request failed', code: cause }))
      return c.json({ detail: { error_code: 'DATABASE_UNAVAILABLE', cause } }, 503)
    }
  })
  return app
}
