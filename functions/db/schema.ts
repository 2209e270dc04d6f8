import { sql } from 'drizzle-orm'
import {
  check,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  unique,
  varchar,
} from 'drizzle-orm/pg-core'

// Property names are the column names on purpose: a selected row is already the JSON shape the
// HTTP API returns (`{id, user_id, preference_key, …}`), so no mapping layer can drift from it.
// Timestamps are `timestamptz` read as `Date`, which serialises as ISO 8601 with a zone.

/** The outcomes an inference log records; the database holds the same list in a CHECK. */
export const INFERENCE_STATUSES = ['SUCCESS', 'ERROR', 'TIMEOUT'] as const
export type InferenceStatus = (typeof INFERENCE_STATUSES)[number]

/** One JSON-object setting per user and key (`theme`, `dashboard_layout`, …). */
export const userPreferences = pgTable(
  'user_preferences',
  {
    id: serial('id').primaryKey(),
    user_id: varchar('user_id', { length: 255 }).notNull(),
    preference_key: varchar('preference_key', { length: 100 }).notNull(),
    preference_value: jsonb('preference_value').$type<Record<string, unknown>>().notNull(),
    created_at: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updated_at: timestamp('updated_at', { withTimezone: true })
      .notNull()
      .defaultNow()
      .$onUpdate(() => sql`now()`),
  },
  (t) => [
    // The upsert's conflict target. Its leading column also serves every "this user's
    // preferences" read, so the Python app's separate index on user_id is not recreated.
    unique('user_preferences_user_id_preference_key_key').on(t.user_id, t.preference_key),
  ],
)

/** One model-serving call, whatever its outcome, written once per (user, request id). */
export const modelInferenceLogs = pgTable(
  'model_inference_logs',
  {
    id: serial('id').primaryKey(),
    request_id: varchar('request_id', { length: 100 }).notNull(),
    endpoint_name: varchar('endpoint_name', { length: 255 }).notNull(),
    user_id: varchar('user_id', { length: 255 }).notNull(),
    inputs: jsonb('inputs').$type<Record<string, unknown>>().notNull(),
    predictions: jsonb('predictions').$type<unknown>(),
    status: varchar('status', { length: 50, enum: INFERENCE_STATUSES }).notNull(),
    execution_time_ms: integer('execution_time_ms'),
    error_message: text('error_message'),
    created_at: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    completed_at: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    // Makes a retried write idempotent (`on conflict do nothing`). It is per user: two users
    // may pick the same request id. Lookups by request id always name the user, so this also
    // replaces the Python app's index on request_id alone.
    unique('model_inference_logs_user_id_request_id_key').on(t.user_id, t.request_id),
    check(
      'model_inference_logs_status_check',
      sql`${t.status} in (${sql.raw(INFERENCE_STATUSES.map((s) => `'${s}'`).join(', '))})`,
    ),
    // "This user's logs, newest first", paged by the keyset (created_at, id): an index range
    // scan in `order by created_at desc, id desc` order, with no sort, however deep the page.
    // NULLS FIRST is what a plain `desc` means; drizzle-kit would otherwise write NULLS LAST,
    // an order that query does not ask for.
    index('model_inference_logs_user_id_created_at_id_idx').on(
      t.user_id,
      t.created_at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
    // The same listing filtered by `endpoint_name` (a query parameter of the logs API). Without
    // it, asking for a rarely used endpoint walks all of the user's logs to fill one page. Every
    // read names the user, so an index on endpoint_name alone would serve no query and is not
    // kept. `status` has three values and gets no index of its own.
    index('model_inference_logs_user_id_endpoint_name_created_at_id_idx').on(
      t.user_id,
      t.endpoint_name,
      t.created_at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
  ],
)

export type UserPreference = typeof userPreferences.$inferSelect
export type NewUserPreference = typeof userPreferences.$inferInsert
export type InferenceLog = typeof modelInferenceLogs.$inferSelect
export type NewInferenceLog = typeof modelInferenceLogs.$inferInsert
