import { and, asc, eq, sql } from 'drizzle-orm'
import { Hono } from 'hono'
import { z } from 'zod'
import type { Database } from '../../shared/db/database.js'
import { userPreferences } from '../../shared/db/schema.js'
import { AppError } from '../../shared/errors.js'
import type { IdentityEnv } from '../middleware/identity.js'
import { validate } from '../validation.js'

/** The largest preference value, as UTF-8 JSON; the original app promised it, now enforced. */
export const MAX_PREFERENCE_VALUE_BYTES = 100 * 1024

const columns = {
  id: userPreferences.id,
  user_id: userPreferences.user_id,
  preference_key: userPreferences.preference_key,
  preference_value: userPreferences.preference_value,
  created_at: userPreferences.created_at,
  updated_at: userPreferences.updated_at,
}

const notFound = (key: string) =>
  new AppError(404, 'PREFERENCE_NOT_FOUND', `No preference "${key}" for this user`, {
    technicalDetails: { preference_key: key },
  })

/** `/api/preferences`: one JSON object per user and allowed key, upserted in one statement. */
export function preferencesRoutes(database: Database, allowedKeys: readonly string[]) {
  const [first, ...rest] = allowedKeys
  if (first === undefined) throw new Error('at least one preference key must be allowed')
  const key = z.enum([first, ...rest], { message: `must be one of: ${allowedKeys.join(', ')}` })
  const value = z
    .record(z.string(), z.unknown(), { message: 'must be a JSON object' })
    .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= MAX_PREFERENCE_VALUE_BYTES, {
      message: `must be at most ${MAX_PREFERENCE_VALUE_BYTES / 1024} KB as JSON`,
      params: { tooLarge: true },
    })
  const keyParam = z.object({ key })

  const upsert = (
    userId: string,
    preferenceKey: string,
    preferenceValue: Record<string, unknown>,
  ) =>
    database.run(async (db) => {
      const [row] = await db
        .insert(userPreferences)
        .values({
          user_id: userId,
          preference_key: preferenceKey,
          preference_value: preferenceValue,
        })
        .onConflictDoUpdate({
          target: [userPreferences.user_id, userPreferences.preference_key],
          set: { preference_value: preferenceValue, updated_at: sql`now()` },
        })
        // xmax is 0 only on a row this statement inserted: created vs updated in one round trip,
        // exact under any concurrency.
        .returning({ ...columns, inserted: sql<boolean>`(xmax = 0)` })
      if (!row) throw new Error('upsert returned no row')
      const { inserted, ...preference } = row
      return { preference, status: inserted ? (201 as const) : (200 as const) }
    })

  return new Hono<IdentityEnv>()
    .get('/', validate('query', z.object({ preference_key: key.optional() })), async (c) => {
      const userId = c.get('userId')
      const { preference_key } = c.req.valid('query')
      const rows = await database.run((db) =>
        db
          .select(columns)
          .from(userPreferences)
          .where(
            preference_key === undefined
              ? eq(userPreferences.user_id, userId)
              : and(
                  eq(userPreferences.user_id, userId),
                  eq(userPreferences.preference_key, preference_key),
                ),
          )
          .orderBy(asc(userPreferences.preference_key)),
      )
      return c.json(rows)
    })
    .get('/:key', validate('param', keyParam), async (c) => {
      const userId = c.get('userId')
      const { key: preferenceKey } = c.req.valid('param')
      const [row] = await database.run((db) =>
        db
          .select(columns)
          .from(userPreferences)
          .where(
            and(
              eq(userPreferences.user_id, userId),
              eq(userPreferences.preference_key, preferenceKey),
            ),
          ),
      )
      if (!row) throw notFound(preferenceKey)
      return c.json(row)
    })
    .post(
      '/',
      validate('json', z.object({ preference_key: key, preference_value: value })),
      async (c) => {
        const body = c.req.valid('json')
        const { preference, status } = await upsert(
          c.get('userId'),
          body.preference_key,
          body.preference_value,
        )
        return c.json(preference, status)
      },
    )
    .put(
      '/:key',
      validate('param', keyParam),
      validate('json', z.object({ preference_value: value })),
      async (c) => {
        const { key: preferenceKey } = c.req.valid('param')
        const { preference_value } = c.req.valid('json')
        const { preference, status } = await upsert(
          c.get('userId'),
          preferenceKey,
          preference_value,
        )
        return c.json(preference, status)
      },
    )
    .delete('/:key', validate('param', keyParam), async (c) => {
      const userId = c.get('userId')
      const { key: preferenceKey } = c.req.valid('param')
      const deleted = await database.run((db) =>
        db
          .delete(userPreferences)
          .where(
            and(
              eq(userPreferences.user_id, userId),
              eq(userPreferences.preference_key, preferenceKey),
            ),
          )
          .returning({ id: userPreferences.id }),
      )
      if (deleted.length === 0) throw notFound(preferenceKey)
      return c.body(null, 204)
    })
}
