import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../../../functions/db/migrate.js'
import { describeSchema, type SchemaShape } from '../../support/catalog.js'
import { connect } from '../../support/connect.js'
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js'

const FIXTURE = fileURLToPath(new URL('../../fixtures/python-app-schema.sql', import.meta.url))

// A request id as long as the column allows, logged twice by one user.
const LONG_ID = `req-${'x'.repeat(96)}`

// Rows as the Python app wrote them: naive timestamps (UTC wall-clock), request ids repeated by a
// retry, one shared by two users, and statuses it never checked. Ids are 1, 2, … in this order.
const SEED = `
  insert into user_preferences (user_id, preference_key, preference_value, created_at, updated_at)
  values
    ('alice@example.com', 'theme', '{"mode":"dark","accent_color":"blue"}',
     '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456'),
    ('alice@example.com', 'dashboard_layout', '{"widgets":["chart1"],"columns":3}',
     '2024-02-29 23:59:59.999999', '2024-03-01 00:00:00'),
    ('bob@example.com', 'theme', '{"mode":"light"}',
     '2023-12-31 22:00:00', '2023-12-31 22:00:00'),
    ('bob@example.com', 'favorite_tables', '{"tables":["main.samples.demo"]}',
     '2024-07-01 12:00:00', '2024-07-01 12:30:00');

  insert into model_inference_logs (request_id, endpoint_name, user_id, inputs, predictions,
    status, execution_time_ms, error_message, created_at, completed_at)
  values
    ('req-1', 'chat', 'alice@example.com', '{"prompt":"hi"}', '{"text":"hello"}',
     'SUCCESS', 120, null, '2024-01-02 03:04:05', '2024-01-02 03:04:05.120'),
    ('req-1', 'chat', 'alice@example.com', '{"prompt":"hi"}', '{"text":"hello again"}',
     'SUCCESS', 130, null, '2024-01-02 03:04:06', '2024-01-02 03:04:06.130'),
    ('req-1', 'chat', 'bob@example.com', '{"prompt":"yo"}', '{"text":"hey"}',
     'SUCCESS', 90, null, '2024-01-02 03:05:00', '2024-01-02 03:05:00.090'),
    ('req-2', 'chat', 'alice@example.com', '{"prompt":"bye"}', '{"text":"ciao"}',
     'success', 80, null, '2024-01-03 10:00:00', '2024-01-03 10:00:00.080'),
    ('req-1', 'chat', 'alice@example.com', '{"prompt":"hi"}', null,
     'ERROR', 30000, 'upstream 502', '2024-01-02 03:04:07', '2024-01-02 03:04:37'),
    ('${LONG_ID}', 'embed', 'alice@example.com', '{"text":"a"}', '[0.1,0.2]',
     'SUCCESS', 15, null, '2024-05-05 05:05:05.555555', '2024-05-05 05:05:05.570'),
    ('${LONG_ID}', 'embed', 'alice@example.com', '{"text":"a"}', null,
     'TIMEOUT', 30000, 'timed out', '2024-05-05 05:06:00', null),
    ('req-2', 'chat', 'bob@example.com', '{"prompt":"?"}', null,
     'PENDING', null, null, '2024-06-01 00:00:00', null),
    ('req-3', 'chat', 'bob@example.com', '{"prompt":"!"}', null,
     'FAILED', 5, 'boom', '2024-06-01 00:00:01', '2024-06-01 00:00:01.005');
`

// Timestamps rendered as UTC wall-clock text with microseconds; before adoption the naive value
// is rendered as it is, so equal text means "the naive value, read as UTC".
const PREFERENCES = (utc: string) => `
  select id, user_id, preference_key, preference_value,
         to_char(created_at${utc}, 'YYYY-MM-DD HH24:MI:SS.US') as created_at,
         to_char(updated_at${utc}, 'YYYY-MM-DD HH24:MI:SS.US') as updated_at
  from user_preferences order by id`
const LOGS = (utc: string) => `
  select id, request_id, endpoint_name, user_id, inputs, predictions, status,
         execution_time_ms, error_message,
         to_char(created_at${utc}, 'YYYY-MM-DD HH24:MI:SS.US') as created_at,
         to_char(completed_at${utc}, 'YYYY-MM-DD HH24:MI:SS.US') as completed_at
  from model_inference_logs order by id`
const NAIVE = ''
const AS_UTC = ` at time zone 'UTC'`

describe('adopting the Python app’s database', () => {
  let freshShape: SchemaShape
  const cleanups: (() => Promise<void>)[] = []

  beforeAll(async () => {
    const fresh = await createTestDatabase('fresh')
    try {
      await runMigrations(fresh.sql)
      freshShape = await describeSchema(fresh.sql)
    } finally {
      await fresh.drop()
    }
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  /** A database as the Python app left it, rows included. */
  async function pythonAppDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase('legacy')
    cleanups.push(() => db.drop())
    await db.sql.unsafe(await readFile(FIXTURE, 'utf8'))
    await db.sql.unsafe(SEED)
    return db
  }

  /**
   * Migrates as a client in New York would: a cast of the naive timestamps would read them in
   * this session's time zone, so only reading them as UTC passes the checks below.
   */
  async function migrateFromNewYork(db: TestDatabase) {
    const sql = connect(db.database, { connection: { TimeZone: 'America/New_York' } })
    cleanups.push(() => sql.end())
    return runMigrations(sql)
  }

  it('keeps every preference, with its naive timestamps read as UTC', async () => {
    const db = await pythonAppDatabase()
    const before = await db.sql.unsafe(PREFERENCES(NAIVE))

    await migrateFromNewYork(db)

    const after = await db.sql.unsafe(PREFERENCES(AS_UTC))
    expect(after).toHaveLength(4)
    expect(after).toEqual(before)
    const [theme] = await db.sql`select created_at, updated_at from user_preferences where id = 1`
    expect(theme?.created_at).toEqual(new Date('2024-01-02T03:04:05Z'))
    expect(theme?.updated_at).toEqual(new Date('2024-01-02T03:04:05.123Z'))
  })

  it('keeps every log, changing only duplicate request ids and unknown statuses', async () => {
    const db = await pythonAppDatabase()
    const before = await db.sql.unsafe(LOGS(NAIVE))

    await migrateFromNewYork(db)

    const after = await db.sql.unsafe(LOGS(AS_UTC))
    const adoptedAs = (status: string) =>
      `Adopted from the Python app with status '${status}', recorded as ERROR.`
    const changes: Record<number, Record<string, unknown>> = {
      2: { request_id: 'req-1-dup-2' },
      4: { status: 'SUCCESS' },
      5: { request_id: 'req-1-dup-5' },
      7: { request_id: `${LONG_ID.slice(0, 100 - '-dup-7'.length)}-dup-7` },
      8: { status: 'ERROR', error_message: adoptedAs('PENDING') },
      9: { status: 'ERROR', error_message: `boom\n${adoptedAs('FAILED')}` },
    }
    expect(after).toHaveLength(9)
    expect(after).toEqual(before.map((row) => ({ ...row, ...changes[row.id as number] })))
  })

  it('makes request ids unique per user, bounded to 100 characters', async () => {
    const db = await pythonAppDatabase()

    await migrateFromNewYork(db)

    const ids = await db.sql<{ user_id: string; request_id: string }[]>`
      select user_id, request_id from model_inference_logs order by id`
    const pairs = ids.map((r) => `${r.user_id} ${r.request_id}`)
    expect(new Set(pairs).size).toBe(pairs.length)
    expect(Math.max(...ids.map((r) => r.request_id.length))).toBe(100)
    const [bob] = await db.sql`select request_id from model_inference_logs where id = 3`
    expect(bob?.request_id).toBe('req-1')
  })

  it('then refuses a second log with the same user and request id', async () => {
    const db = await pythonAppDatabase()
    await migrateFromNewYork(db)

    await expect(db.sql`
      insert into model_inference_logs (request_id, endpoint_name, user_id, inputs, status)
      values ('req-1', 'chat', 'alice@example.com', '{}', 'SUCCESS')`).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'model_inference_logs_user_id_request_id_key',
    })
  })

  it('ends with exactly the schema an empty database gets, and no alembic_version', async () => {
    const db = await pythonAppDatabase()

    await migrateFromNewYork(db)

    expect(await describeSchema(db.sql)).toEqual(freshShape)
  })

  it('leaves one unique constraint on preferences and no index on user_id alone', async () => {
    const db = await pythonAppDatabase()

    await migrateFromNewYork(db)

    const { indexes } = await describeSchema(db.sql)
    const preferenceUniques = indexes.filter(
      (i) =>
        i.table === 'user_preferences' &&
        i.unique &&
        [...i.columns].sort().join() === 'preference_key,user_id',
    )
    expect(preferenceUniques.map((i) => i.constraint)).toEqual([
      'user_preferences_user_id_preference_key_key',
    ])
    // Led by user_id on the logs: the per-user unique constraint and the two keyset indexes,
    // each of which serves "this user's logs"; none is on user_id alone.
    const ledByUser = indexes.filter((i) => i.columns[0] === 'user_id')
    expect(ledByUser.map((i) => [i.table, i.columns.join()])).toEqual([
      ['model_inference_logs', 'user_id,created_at,id'],
      ['model_inference_logs', 'user_id,endpoint_name,created_at,id'],
      ['model_inference_logs', 'user_id,request_id'],
      ['user_preferences', 'user_id,preference_key'],
    ])
  })

  it('finds duplicates by their columns, whatever they are named', async () => {
    const db = await pythonAppDatabase()
    await db.sql.unsafe(`
      alter table user_preferences rename constraint uq_user_preference to prefs_unique;
      alter table user_preferences
        drop constraint user_preferences_user_id_preference_key_key;
      create unique index prefs_unique_again on user_preferences (preference_key, user_id);
      alter index idx_inference_logs_user rename to logs_by_user;
      alter index ix_model_inference_logs_request_id rename to logs_by_request;`)

    await migrateFromNewYork(db)

    expect(await describeSchema(db.sql)).toEqual(freshShape)
  })

  it('keeps an index a deployment added of its own', async () => {
    const db = await pythonAppDatabase()
    await db.sql`create index logs_for_retention on model_inference_logs (created_at)`

    await migrateFromNewYork(db)

    const { indexes } = await describeSchema(db.sql)
    expect(indexes.find((i) => i.name === 'logs_for_retention')?.columns).toEqual(['created_at'])
  })

  it('adopts a database that stopped at revision 001', async () => {
    const db = await pythonAppDatabase()
    await db.sql.unsafe(`
      drop table model_inference_logs;
      update alembic_version set version_num = '001';`)

    await migrateFromNewYork(db)

    expect(await describeSchema(db.sql)).toEqual(freshShape)
    const [row] = await db.sql`select count(*)::int as n from user_preferences`
    expect(row?.n).toBe(4)
  })

  it('leaves alembic_version alone when it records another project’s revision', async () => {
    const db = await pythonAppDatabase()
    await db.sql`update alembic_version set version_num = 'ae1027a6acf'`

    await migrateFromNewYork(db)

    const versions = await db.sql`select version_num from alembic_version`
    expect(versions.map((v) => v.version_num)).toEqual(['ae1027a6acf'])
  })

  it('continues ids after the adopted rows and changes nothing when run again', async () => {
    const db = await pythonAppDatabase()
    await migrateFromNewYork(db)

    const again = await migrateFromNewYork(db)
    const [inserted] = await db.sql`
      insert into user_preferences (user_id, preference_key, preference_value)
      values ('carol@example.com', 'theme', '{}') returning id`

    expect(again.applied).toBe(0)
    expect(inserted?.id).toBe(5)
  })
})
