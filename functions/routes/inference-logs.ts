import { randomUUID } from 'node:crypto'
import { createRoute, z } from '@hono/zod-openapi'
import { and, count, desc, eq, type SQL, sql } from 'drizzle-orm'
import { LakebaseError } from 'lakebase-broker'
import type { IdentityEnv } from 'lakebase-broker/hono'
import type { Db, FunctionsDatabase } from '../db/database.js'
import { INFERENCE_STATUSES, modelInferenceLogs, type NewInferenceLog } from '../db/schema.js'
import { BODY_ERRORS, DATABASE_ERRORS, errorResponses, IDENTITY_ERRORS } from '../openapi/errors.js'
import { openApiRouter } from '../validation.js'

export const DEFAULT_PAGE_SIZE = 50
export const MAX_PAGE_SIZE = 1000
/** Deep offsets scan every skipped row; past this, clients must use the keyset cursor. */
export const MAX_OFFSET = 100_000

const columns = {
  id: modelInferenceLogs.id,
  request_id: modelInferenceLogs.request_id,
  endpoint_name: modelInferenceLogs.endpoint_name,
  user_id: modelInferenceLogs.user_id,
  inputs: modelInferenceLogs.inputs,
  predictions: modelInferenceLogs.predictions,
  status: modelInferenceLogs.status,
  execution_time_ms: modelInferenceLogs.execution_time_ms,
  error_message: modelInferenceLogs.error_message,
  created_at: modelInferenceLogs.created_at,
  completed_at: modelInferenceLogs.completed_at,
}

const isoWithZone = z.iso.datetime({ offset: true }).transform((s) => new Date(s))

/** The body of `POST /api/inference-logs`; also what model-serving invoke writes. */
export const newLogSchema = z.object({
  endpoint_name: z.string().min(1).max(255),
  inputs: z.record(z.string(), z.unknown(), { message: 'must be a JSON object' }),
  predictions: z.unknown().optional(),
  status: z.enum(INFERENCE_STATUSES),
  execution_time_ms: z.number().int().min(0).max(2_147_483_647).optional(),
  error_message: z.string().max(10_000).optional(),
  request_id: z.string().min(1).max(100).optional(),
  created_at: isoWithZone.optional(),
  completed_at: isoWithZone.optional(),
})
export type NewLog = z.infer<typeof newLogSchema>

const limit = z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE)

/** The keyset position after a row: its exact `created_at` (microseconds, as text) and id. */
const cursorSchema = z.object({ t: z.string().max(40), i: z.number().int().positive() })
type Cursor = z.infer<typeof cursorSchema>

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url')
}

function decodeCursor(raw: string): Cursor {
  try {
    const cursor = cursorSchema.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')))
    if (Number.isNaN(Date.parse(cursor.t))) throw new Error('bad time')
    return cursor
  } catch {
    throw new LakebaseError(400, 'INVALID_REQUEST', 'Invalid cursor', {
      technicalDetails: {
        fields: [{ field: 'cursor', message: 'not a cursor this API returned' }],
      },
    })
  }
}

/**
 * Writes one log row for the user, once per request id: a repeated request id returns the first
 * row (`created: false`) and writes nothing. Without a request id one is generated, so the
 * write is still safe to retry.
 */
export async function writeLog(database: FunctionsDatabase, userId: string, log: NewLog) {
  const values: NewInferenceLog = {
    ...log,
    user_id: userId,
    request_id: log.request_id ?? randomUUID(),
    predictions: log.predictions ?? null,
  }
  return database.run(async (db) => {
    const [inserted] = await db
      .insert(modelInferenceLogs)
      .values(values)
      .onConflictDoNothing({ target: [modelInferenceLogs.user_id, modelInferenceLogs.request_id] })
      .returning(columns)
    if (inserted) return { log: inserted, created: true }
    const [existing] = await db
      .select(columns)
      .from(modelInferenceLogs)
      .where(
        and(
          eq(modelInferenceLogs.user_id, userId),
          eq(modelInferenceLogs.request_id, values.request_id),
        ),
      )
    if (!existing) throw new Error('conflicting log row vanished')
    return { log: existing, created: false }
  })
}

function userFilter(userId: string, endpointName?: string, status?: string): SQL {
  const conditions = [eq(modelInferenceLogs.user_id, userId)]
  if (endpointName !== undefined)
    conditions.push(eq(modelInferenceLogs.endpoint_name, endpointName))
  if (status !== undefined)
    conditions.push(eq(modelInferenceLogs.status, status as (typeof INFERENCE_STATUSES)[number]))
  return and(...conditions) as SQL
}

async function keysetPage(db: Db, filter: SQL, pageSize: number, after: Cursor | undefined) {
  const where = after
    ? and(
        filter,
        sql`(${modelInferenceLogs.created_at}, ${modelInferenceLogs.id}) < (${after.t}::timestamptz, ${after.i})`,
      )
    : filter
  const rows = await db
    .select({
      ...columns,
      // The exact timestamp for the cursor: a JS Date would drop the microseconds.
      position: sql<string>`to_char(${modelInferenceLogs.created_at} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    })
    .from(modelInferenceLogs)
    .where(where)
    .orderBy(desc(modelInferenceLogs.created_at), desc(modelInferenceLogs.id))
    .limit(pageSize + 1)
  const page = rows.slice(0, pageSize)
  const last = page.at(-1)
  const next =
    rows.length > pageSize && last ? encodeCursor({ t: last.position, i: last.id }) : null
  return { logs: page.map(({ position: _, ...log }) => log), next_cursor: next }
}

/** A stored inference log, as the log routes return it. */
export const logSchema = z
  .object({
    id: z.number().int(),
    request_id: z.string(),
    endpoint_name: z.string(),
    user_id: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    predictions: z.unknown().openapi({ description: "The endpoint's response JSON, or null" }),
    status: z.enum(INFERENCE_STATUSES),
    execution_time_ms: z.number().int().nullable(),
    error_message: z.string().nullable(),
    created_at: z.iso.datetime({ offset: true }),
    completed_at: z.iso.datetime({ offset: true }).nullable(),
  })
  .openapi('InferenceLog')

const logResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: logSchema } },
})

/** `/api/inference-logs`: idempotent writes and keyset-paged reads of the user's logs. */
export function inferenceLogRoutes(database: FunctionsDatabase) {
  return openApiRouter<IdentityEnv>()
    .openapi(
      createRoute({
        method: 'post',
        path: '/',
        summary: 'Write an inference log, once per request_id',
        tags: ['inference logs'],
        request: {
          body: { required: true, content: { 'application/json': { schema: newLogSchema } } },
        },
        responses: {
          200: logResponse('The row first written with this request_id; nothing was written'),
          201: logResponse('Written'),
          ...errorResponses(BODY_ERRORS, IDENTITY_ERRORS, DATABASE_ERRORS),
        },
      }),
      async (c) => {
        const { log, created } = await writeLog(database, c.get('user'), c.req.valid('json'))
        return c.json(log, created ? 201 : 200)
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/',
        summary: "The user's logs, newest first, a page at a time",
        tags: ['inference logs'],
        request: {
          query: z.object({
            limit,
            cursor: z
              .string()
              .max(200)
              .optional()
              .openapi({ description: 'The `next_cursor` of the previous page' }),
            endpoint_name: z.string().min(1).max(255).optional(),
            status: z.enum(INFERENCE_STATUSES).optional(),
          }),
        },
        responses: {
          200: {
            description: 'One page; `next_cursor` is null on the last',
            content: {
              'application/json': {
                schema: z.object({ logs: z.array(logSchema), next_cursor: z.string().nullable() }),
              },
            },
          },
          ...errorResponses({ 400: ['INVALID_REQUEST'] }, IDENTITY_ERRORS, DATABASE_ERRORS),
        },
      }),
      async (c) => {
        const q = c.req.valid('query')
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
        const filter = userFilter(c.get('user'), q.endpoint_name, q.status)
        return c.json(await database.run((db) => keysetPage(db, filter, q.limit, after)), 200)
      },
    )
}

/** `GET /api/model-serving/logs`: the original app's offset shape, now bounded. */
export function modelServingLogRoutes(database: FunctionsDatabase) {
  return openApiRouter<IdentityEnv>().openapi(
    createRoute({
      method: 'get',
      path: '/logs',
      summary: "The user's logs, newest first, by offset (the original app's shape)",
      tags: ['model serving'],
      request: {
        query: z.object({
          limit,
          offset: z.coerce.number().int().min(0).max(MAX_OFFSET).default(0),
        }),
      },
      responses: {
        200: {
          description: 'One page and the total count',
          content: {
            'application/json': {
              schema: z.object({
                logs: z.array(logSchema),
                total_count: z.number().int(),
                limit: z.number().int(),
                offset: z.number().int(),
              }),
            },
          },
        },
        ...errorResponses({ 400: ['INVALID_REQUEST'] }, IDENTITY_ERRORS, DATABASE_ERRORS),
      },
    }),
    async (c) => {
      const { limit: pageSize, offset } = c.req.valid('query')
      const filter = userFilter(c.get('user'))
      const result = await database.run(async (db) => {
        const logs = await db
          .select(columns)
          .from(modelInferenceLogs)
          .where(filter)
          .orderBy(desc(modelInferenceLogs.created_at), desc(modelInferenceLogs.id))
          .limit(pageSize)
          .offset(offset)
        const [total] = await db.select({ n: count() }).from(modelInferenceLogs).where(filter)
        return { logs, total_count: total?.n ?? 0 }
      })
      return c.json({ ...result, limit: pageSize, offset }, 200)
    },
  )
}
