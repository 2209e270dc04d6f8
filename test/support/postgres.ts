import { randomBytes } from 'node:crypto'
import type postgres from 'postgres'
import { inject } from 'vitest'
import { connect } from './connect.js'

export interface TestDatabase {
  host: string
  port: number
  database: string
  /** A superuser connection to this database. */
  sql: postgres.Sql
  drop(): Promise<void>
}

/** The superuser connection to the suite's server, on its maintenance database. */
export function adminSql(database = 'postgres'): postgres.Sql {
  return connect(database, { max: 2 })
}

/** A fresh, empty database on the suite's real Postgres; `drop()` removes it. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const pg = inject('postgres')
  const database = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = adminSql()
  await admin.unsafe(`create database "${database}"`)
  await admin.end()
  const sql = adminSql(database)
  return {
    host: pg.host,
    port: pg.port,
    database,
    sql,
    async drop() {
      await sql.end({ timeout: 1 })
      const a = adminSql()
      await a.unsafe(`drop database if exists "${database}" with (force)`)
      await a.end()
    },
  }
}
