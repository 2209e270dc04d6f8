import { desc, eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../../../functions/db/migrate.js'
import { modelInferenceLogs, userPreferences } from '../../../functions/db/schema.js'
import { describeSchema, type SchemaShape } from '../../support/catalog.js'
import { connect } from '../../support/connect.js'
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js'

const SERIAL = (table: string) => `nextval('${table}_id_seq'::regclass)`
const KEYSET_INDEX = 'model_inference_logs_user_id_created_at_id_idx'
const ENDPOINT_KEYSET_INDEX = 'model_inference_logs_user_id_endpoint_name_created_at_id_idx'

describe('the schema of a migrated empty database', () => {
  let db: TestDatabase
  let shape: SchemaShape
  beforeAll(async () => {
    db = await createTestDatabase('schema')
    await runMigrations(db.sql)
    shape = await describeSchema(db.sql)
  })
  afterAll(async () => {
    await db.drop()
  })

  it('has the two tables of the Python app and nothing else', () => {
    expect(shape.tables).toEqual(['model_inference_logs', 'user_preferences'])
  })

  it('gives user_preferences its columns, with timestamps that carry a zone', () => {
    expect(shape.columns.filter((c) => c.table === 'user_preferences')).toEqual([
      col('user_preferences', 'id', 'integer', false, SERIAL('user_preferences')),
      col('user_preferences', 'user_id', 'character varying(255)', false),
      col('user_preferences', 'preference_key', 'character varying(100)', false),
      col('user_preferences', 'preference_value', 'jsonb', false),
      col('user_preferences', 'created_at', 'timestamp with time zone', false, 'now()'),
      col('user_preferences', 'updated_at', 'timestamp with time zone', false, 'now()'),
    ])
  })

  it('gives model_inference_logs its columns, with timestamps that carry a zone', () => {
    const t = 'model_inference_logs'
    expect(shape.columns.filter((c) => c.table === t)).toEqual([
      col(t, 'id', 'integer', false, SERIAL(t)),
      col(t, 'request_id', 'character varying(100)', false),
      col(t, 'endpoint_name', 'character varying(255)', false),
      col(t, 'user_id', 'character varying(255)', false),
      col(t, 'inputs', 'jsonb', false),
      col(t, 'predictions', 'jsonb', true),
      col(t, 'status', 'character varying(50)', false),
      col(t, 'execution_time_ms', 'integer', true),
      col(t, 'error_message', 'text', true),
      col(t, 'created_at', 'timestamp with time zone', false, 'now()'),
      col(t, 'completed_at', 'timestamp with time zone', true),
    ])
  })

  it('has a primary key, one unique constraint per table, and the status check', () => {
    expect(shape.constraints.map(({ table, name }) => [table, name])).toEqual([
      ['model_inference_logs', 'model_inference_logs_pkey'],
      ['model_inference_logs', 'model_inference_logs_status_check'],
      ['model_inference_logs', 'model_inference_logs_user_id_request_id_key'],
      ['user_preferences', 'user_preferences_pkey'],
      ['user_preferences', 'user_preferences_user_id_preference_key_key'],
    ])
    const definition = (name: string) => shape.constraints.find((c) => c.name === name)?.definition
    expect(definition('model_inference_logs_user_id_request_id_key')).toBe(
      'UNIQUE (user_id, request_id)',
    )
    expect(definition('user_preferences_user_id_preference_key_key')).toBe(
      'UNIQUE (user_id, preference_key)',
    )
    expect(definition('model_inference_logs_status_check')).toMatch(
      /^CHECK .*'SUCCESS'.*'ERROR'.*'TIMEOUT'/,
    )
  })

  it('indexes the logs for one user newest first, with and without an endpoint filter', () => {
    expect(
      shape.indexes.map(({ table, name, columns, unique }) => ({ table, name, columns, unique })),
    ).toEqual([
      {
        table: 'model_inference_logs',
        name: 'model_inference_logs_pkey',
        columns: ['id'],
        unique: true,
      },
      {
        table: 'model_inference_logs',
        name: KEYSET_INDEX,
        columns: ['user_id', 'created_at', 'id'],
        unique: false,
      },
      {
        table: 'model_inference_logs',
        name: ENDPOINT_KEYSET_INDEX,
        columns: ['user_id', 'endpoint_name', 'created_at', 'id'],
        unique: false,
      },
      {
        table: 'model_inference_logs',
        name: 'model_inference_logs_user_id_request_id_key',
        columns: ['user_id', 'request_id'],
        unique: true,
      },
      { table: 'user_preferences', name: 'user_preferences_pkey', columns: ['id'], unique: true },
      {
        table: 'user_preferences',
        name: 'user_preferences_user_id_preference_key_key',
        columns: ['user_id', 'preference_key'],
        unique: true,
      },
    ])
    const definition = (name: string) => shape.indexes.find((i) => i.name === name)?.definition
    expect(definition(KEYSET_INDEX)).toContain('(user_id, created_at DESC, id DESC)')
    expect(definition(ENDPOINT_KEYSET_INDEX)).toContain(
      '(user_id, endpoint_name, created_at DESC, id DESC)',
    )
  })
})

describe('the constraints and indexes at work', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase('schema')
    await runMigrations(db.sql)
  })
  afterAll(async () => {
    await db.drop()
  })

  const log = (user: string, requestId: string, status = 'SUCCESS') => ({
    request_id: requestId,
    endpoint_name: 'chat',
    user_id: user,
    inputs: { prompt: 'hi' },
    status,
  })

  it('refuses a request id twice for one user, but not once for each of two users', async () => {
    await db.sql`insert into model_inference_logs ${db.sql(log('ann', 'r-1'))}`
    await db.sql`insert into model_inference_logs ${db.sql(log('ben', 'r-1'))}`
    await expect(
      db.sql`insert into model_inference_logs ${db.sql(log('ann', 'r-1'))}`,
    ).rejects.toMatchObject({ code: '23505' })
  })

  it('refuses a status other than SUCCESS, ERROR and TIMEOUT', async () => {
    await expect(
      db.sql`insert into model_inference_logs ${db.sql(log('ann', 'r-2', 'PENDING'))}`,
    ).rejects.toMatchObject({ code: '23514' })
  })

  it('refuses a second value for the same user and preference key', async () => {
    const pref = { user_id: 'ann', preference_key: 'theme', preference_value: { mode: 'dark' } }
    await db.sql`insert into user_preferences ${db.sql(pref)}`
    await expect(db.sql`insert into user_preferences ${db.sql(pref)}`).rejects.toMatchObject({
      code: '23505',
    })
  })

  it('pages one user’s logs newest first from the keyset index, without sorting', async () => {
    await seedManyLogs(db.sql)
    const plan = await explain(
      db.sql,
      `select * from model_inference_logs
       where user_id = 'user-3' and (created_at, id) < (now(), 2147483647)
       order by created_at desc, id desc limit 50`,
    )
    expect(plan.nodeTypes).not.toContain('Sort')
    expect(plan.indexNames).toEqual([KEYSET_INDEX])
  })

  it('pages one user’s logs of one endpoint from the endpoint index, without sorting', async () => {
    await seedManyLogs(db.sql)
    const plan = await explain(
      db.sql,
      `select * from model_inference_logs
       where user_id = 'user-3' and endpoint_name = 'endpoint-2'
         and (created_at, id) < (now(), 2147483647)
       order by created_at desc, id desc limit 50`,
    )
    expect(plan.nodeTypes).not.toContain('Sort')
    expect(plan.indexNames).toEqual([ENDPOINT_KEYSET_INDEX])
  })

  it('reads rows through drizzle in the API’s JSON shape, with ISO 8601 timestamps', async () => {
    // drizzle changes the parsers of the client it wraps, so it gets a client of its own.
    const client = connect(db.database, { max: 1 })
    try {
      const orm = drizzle(client)
      await orm.insert(userPreferences).values({
        user_id: 'cat',
        preference_key: 'theme',
        preference_value: { mode: 'light' },
        created_at: new Date('2024-01-02T03:04:05.678Z'),
      })
      await orm.insert(modelInferenceLogs).values({ ...log('cat', 'r-1'), status: 'SUCCESS' })
      const [pref] = await orm
        .select()
        .from(userPreferences)
        .where(eq(userPreferences.user_id, 'cat'))
      const [entry] = await orm
        .select()
        .from(modelInferenceLogs)
        .where(eq(modelInferenceLogs.user_id, 'cat'))
        .orderBy(desc(modelInferenceLogs.created_at), desc(modelInferenceLogs.id))

      const json = JSON.parse(JSON.stringify(pref))
      expect(Object.keys(json)).toEqual([
        'id',
        'user_id',
        'preference_key',
        'preference_value',
        'created_at',
        'updated_at',
      ])
      expect(json.created_at).toBe('2024-01-02T03:04:05.678Z')
      expect(json.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(entry?.status).toBe('SUCCESS')
      expect(entry?.created_at).toBeInstanceOf(Date)
      expect(entry?.completed_at).toBeNull()
    } finally {
      await client.end()
    }
  })
})

function col(table: string, column: string, type: string, nullable: boolean, dflt?: string) {
  return { table, column, type, nullable, default: dflt ?? null }
}

/** Enough logs over several users and endpoints that the planner weighs its indexes for real. */
async function seedManyLogs(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into model_inference_logs
      (request_id, endpoint_name, user_id, inputs, status, created_at)
    select 'many-' || n, 'endpoint-' || (n % 7), 'user-' || (n % 10), '{}', 'SUCCESS',
           now() - n * interval '1 minute'
    from generate_series(1, 20000) as n
    on conflict do nothing`
  await sql`analyze model_inference_logs`
}

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  Plans?: PlanNode[]
}

/** The node types and index names of a query's plan. */
async function explain(sql: postgres.Sql, query: string) {
  const [row] = await sql.unsafe<[{ 'QUERY PLAN': [{ Plan: PlanNode }] }]>(
    `explain (format json) ${query}`,
  )
  const nodeTypes: string[] = []
  const indexNames: string[] = []
  const visit = (node: PlanNode) => {
    nodeTypes.push(node['Node Type'])
    if (node['Index Name']) indexNames.push(node['Index Name'])
    for (const child of node.Plans ?? []) visit(child)
  }
  if (row) visit(row['QUERY PLAN'][0].Plan)
  return { nodeTypes, indexNames }
}
