import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from './support/postgres.js'

describe('the test Postgres', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    await db.drop()
  })

  it('is a real server that answers queries', async () => {
    const [row] = await db.sql`select current_database() as name, version() as version`
    expect(row?.name).toBe(db.database)
    expect(row?.version).toMatch(/^PostgreSQL/)
  })
})
