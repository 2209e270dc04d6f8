import { createRoute, z } from '@hono/zod-openapi'
import { and, eq, sql } from 'drizzle-orm'
import { LakebaseError } from 'lakebase-broker'
import type { IdentityEnv } from 'lakebase-broker/hono'
import type postgres from 'postgres'
import { type FunctionsDatabase, prepared } from '../db/database.js'
import { userPreferences } from '../db/schema.js'
import { BODY_ERRORS, DATABASE_ERRORS, errorResponses, IDENTITY_ERRORS } from '../openapi/errors.js'
import { openApiRouter } from '../validation.js'

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

/** A stored preference, as every preferences route returns it. */
const preferenceSchema = z
  .object({
    id: z.number().int(),
    user_id: z.string(),
    preference_key: z.string(),
    preference_value: z.record(z.string(), z.unknown()),
    created_at: z.iso.datetime({ offset: true }),
    updated_at: z.iso.datetime({ offset: true }),
  })
  .openapi('Preference', {
    example: {
      id: 1,
      user_id: 'alice@example.com',
      preference_key: 'theme',
      preference_value: { mode: 'dark', accent_color: 'blue' },
      created_at: '2026-11-26T19:00:00.000Z',
      updated_at: '2026-11-26T19:00:00.000Z',
    },
  })

/** A row of `user_preferences` as every route answers it (the column names are the JSON's). */
type PreferenceRow = {
  id: number
  user_id: string
  preference_key: string
  preference_value: Record<string, unknown>
  created_at: Date
  updated_at: Date
}

// The reads behind the GETs, the hottest routes, on postgres.js itself: tagged templates are
// prepared once per connection and their rows come back in the answer's shape, where drizzle's
// execute and row mapping were a twentieth of the route's CPU (see BENCHMARKS.md). The writes
// stay on drizzle; a test compares the two reads' rows with drizzle's.

/** The user's preferences, ordered by key. */
export function listPreferences(pg: postgres.Sql, user: string) {
  return pg<PreferenceRow[]>`
    select id, user_id, preference_key, preference_value, created_at, updated_at
    from user_preferences where user_id = ${user} order by preference_key`
}

/** The user's preference `key`: one row or none. */
export function getPreference(pg: postgres.Sql, user: string, key: string) {
  return pg<PreferenceRow[]>`
    select id, user_id, preference_key, preference_value, created_at, updated_at
    from user_preferences where user_id = ${user} and preference_key = ${key}`
}

const notFound = (key: string) =>
  new LakebaseError(404, 'PREFERENCE_NOT_FOUND', `No preference "${key}" for this user`, {
    technicalDetails: { preference_key: key },
  })

/** `/api/preferences`: one JSON object per user and allowed key, upserted in one statement. */
export function preferencesRoutes(database: FunctionsDatabase, allowedKeys: readonly string[]) {
  const [first, ...rest] = allowedKeys
  if (first === undefined) throw new Error('at least one preference key must be allowed')
  const key = z.enum([first, ...rest], { message: `must be one of: ${allowedKeys.join(', ')}` })
  const value = z
    .record(z.string(), z.unknown(), { message: 'must be a JSON object' })
    .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= MAX_PREFERENCE_VALUE_BYTES, {
      message: `must be at most ${MAX_PREFERENCE_VALUE_BYTES / 1024} KB as JSON`,
      params: { tooLarge: true },
    })

  const userId = sql.placeholder('userId')
  const preferenceKey = sql.placeholder('preferenceKey')
  const byUserAndKey = and(
    eq(userPreferences.user_id, userId),
    eq(userPreferences.preference_key, preferenceKey),
  )
  const deleteOne = prepared((db) =>
    db
      .delete(userPreferences)
      .where(byUserAndKey)
      .returning({ id: userPreferences.id })
      .prepare('preferences_delete'),
  )
  const upsertOne = prepared((db) =>
    db
      .insert(userPreferences)
      .values({
        user_id: userId,
        preference_key: preferenceKey,
        preference_value: sql.placeholder('value'),
      })
      .onConflictDoUpdate({
        target: [userPreferences.user_id, userPreferences.preference_key],
        set: { preference_value: sql`excluded.preference_value`, updated_at: sql`now()` },
      })
      // xmax is 0 only on a row this statement inserted: created vs updated in one round trip,
      // exact under any concurrency.
      .returning({ ...columns, inserted: sql<boolean>`(xmax = 0)` })
      .prepare('preferences_upsert'),
  )

  const upsert = (user: string, key: string, value: Record<string, unknown>) =>
    database.run(
      async (db) => {
        const [row] = await upsertOne(db).execute({ userId: user, preferenceKey: key, value })
        if (!row) throw new Error('upsert returned no row')
        const { inserted, ...preference } = row
        return { preference, status: inserted ? (201 as const) : (200 as const) }
      },
      { name: 'preferences_upsert' },
    )

  const keyPath = {
    params: z.object({ key: key.openapi({ param: { name: 'key', in: 'path' } }) }),
  }
  const json = <T extends z.ZodType>(schema: T) => ({
    required: true,
    content: { 'application/json': { schema } },
  })
  const one = (description: string) => ({
    description,
    content: { 'application/json': { schema: preferenceSchema } },
  })

  return openApiRouter<IdentityEnv>()
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        summary: "The user's preferences, optionally one key",
        tags: ['preferences'],
        request: { query: z.object({ preference_key: key.optional() }) },
        responses: {
          200: {
            description: "The user's preferences, ordered by key",
            content: { 'application/json': { schema: z.array(preferenceSchema) } },
          },
          ...errorResponses({ 400: ['INVALID_REQUEST'] }, IDENTITY_ERRORS, DATABASE_ERRORS),
        },
      }),
      async (c) => {
        const user = c.get('user')
        const { preference_key } = c.req.valid('query')
        const rows = await database.run(
          (_db, pg) =>
            preference_key === undefined
              ? listPreferences(pg, user)
              : getPreference(pg, user, preference_key),
          { name: 'preferences_list' },
        )
        return c.json(rows, 200)
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{key}',
        summary: 'One preference',
        tags: ['preferences'],
        request: keyPath,
        responses: {
          200: one('The preference'),
          ...errorResponses(
            { 400: ['INVALID_REQUEST'], 404: ['PREFERENCE_NOT_FOUND'] },
            IDENTITY_ERRORS,
            DATABASE_ERRORS,
          ),
        },
      }),
      async (c) => {
        const { key } = c.req.valid('param')
        const [row] = await database.run((_db, pg) => getPreference(pg, c.get('user'), key), {
          name: 'preferences_get',
        })
        if (!row) throw notFound(key)
        return c.json(row, 200)
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        summary: 'Create or replace a preference',
        tags: ['preferences'],
        request: { body: json(z.object({ preference_key: key, preference_value: value })) },
        responses: {
          200: one('Updated: the key existed'),
          201: one('Created'),
          ...errorResponses(BODY_ERRORS, IDENTITY_ERRORS, DATABASE_ERRORS),
        },
      }),
      async (c) => {
        const body = c.req.valid('json')
        const { preference, status } = await upsert(
          c.get('user'),
          body.preference_key,
          body.preference_value,
        )
        return c.json(preference, status)
      },
    )
    .openapi(
      createRoute({
        method: 'put',
        path: '/{key}',
        summary: 'Create or replace the preference with this key',
        tags: ['preferences'],
        request: { ...keyPath, body: json(z.object({ preference_value: value })) },
        responses: {
          200: one('Updated: the key existed'),
          201: one('Created'),
          ...errorResponses(BODY_ERRORS, IDENTITY_ERRORS, DATABASE_ERRORS),
        },
      }),
      async (c) => {
        const { key: preferenceKey } = c.req.valid('param')
        const { preference_value } = c.req.valid('json')
        const { preference, status } = await upsert(c.get('user'), preferenceKey, preference_value)
        return c.json(preference, status)
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{key}',
        summary: 'Delete the preference with this key',
        tags: ['preferences'],
        request: keyPath,
        responses: {
          204: { description: 'Deleted' },
          ...errorResponses(
            { 400: ['INVALID_REQUEST'], 404: ['PREFERENCE_NOT_FOUND'] },
            IDENTITY_ERRORS,
            DATABASE_ERRORS,
          ),
        },
      }),
      async (c) => {
        const { key } = c.req.valid('param')
        const deleted = await database.run(
          (db) => deleteOne(db).execute({ userId: c.get('user'), preferenceKey: key }),
          { name: 'preferences_delete' },
        )
        if (deleted.length === 0) throw notFound(key)
        return c.body(null, 204)
      },
    )
}
