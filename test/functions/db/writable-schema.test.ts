import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runMigrations } from '../../../functions/db/migrate.js'
import { ensureWritableSchema } from '../../../functions/db/writable-schema.js'
import { connect } from '../../support/connect.js'
import { adminSql, createTestDatabase, type TestDatabase } from '../../support/postgres.js'

describe('ensureWritableSchema', () => {
  let db: TestDatabase
  const role = `app-${Math.random().toString(36).slice(2, 8)}`
  beforeEach(async () => {
    db = await createTestDatabase('schema')
    const admin = adminSql()
    await admin.unsafe(`create role "${role}" with login password 'pw'`)
    // What a Databricks App's database resource grants: nothing in `public` on Postgres 15+.
    await admin.unsafe(`grant connect, create on database "${db.database}" to "${role}"`)
    await admin.end()
  })
  afterEach(async () => {
    await db.drop()
    const admin = adminSql()
    await admin.unsafe(`drop role if exists "${role}"`)
    await admin.end()
  })

  it('changes nothing for a login that may create in its current schema', async () => {
    expect(await ensureWritableSchema(db.sql)).toEqual({ schema: 'public', created: false })
  })

  it('gives a role without CREATE in public a schema of its own, which the migrations then use', async () => {
    const sql = connect(db.database, { user: role, password: 'pw' })
    try {
      await expect(sql`create table t (id int)`).rejects.toMatchObject({ code: '42501' })
      expect(await ensureWritableSchema(sql)).toEqual({ schema: role, created: true })
      await runMigrations(sql)
      const [table] = await sql<{ schema: string }[]>`
        select table_schema as schema from information_schema.tables
        where table_name = 'user_preferences'`
      expect(table?.schema).toBe(role)
      expect(await ensureWritableSchema(sql)).toEqual({ schema: role, created: false })
    } finally {
      await sql.end()
    }
  })
})
