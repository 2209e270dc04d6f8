import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type postgres from 'postgres'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  findMigrationsFolder,
  MIGRATION_LOCK_KEY,
  runMigrations,
} from '../../../functions/db/migrate.js'
import { describeSchema } from '../../support/catalog.js'
import { connect } from '../../support/connect.js'
import { createTestDatabase, type TestDatabase } from '../../support/postgres.js'

const REPO = resolve(fileURLToPath(import.meta.url), '../../../..')
const MIGRATIONS = join(REPO, 'migrations')

interface Journal {
  entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[]
}

const journal: Journal = JSON.parse(await readFile(join(MIGRATIONS, 'meta/_journal.json'), 'utf8'))
const MIGRATION_COUNT = journal.entries.length

describe('runMigrations', () => {
  let db: TestDatabase
  const clients: postgres.Sql[] = []
  const client = (options: postgres.Options<Record<string, never>> = {}) => {
    const sql = connect(db.database, options)
    clients.push(sql)
    return sql
  }
  beforeEach(async () => {
    db = await createTestDatabase('migrate')
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((sql) => sql.end()))
    await db.drop()
  })

  it('applies every migration to an empty database and says how many', async () => {
    const summary = await runMigrations(db.sql)

    expect(summary).toEqual({ applied: MIGRATION_COUNT, total: MIGRATION_COUNT })
    const [row] = await db.sql`select count(*)::int as n from drizzle.__drizzle_migrations`
    expect(row?.n).toBe(MIGRATION_COUNT)
    expect((await describeSchema(db.sql)).tables).toEqual([
      'model_inference_logs',
      'user_preferences',
    ])
  })

  it('changes nothing when run a second time', async () => {
    await runMigrations(db.sql)
    const before = await describeSchema(db.sql)

    const summary = await runMigrations(db.sql)

    expect(summary).toEqual({ applied: 0, total: MIGRATION_COUNT })
    expect(await describeSchema(db.sql)).toEqual(before)
  })

  it('applies each migration once when two processes run it at the same time', async () => {
    const summaries = await Promise.all([runMigrations(client()), runMigrations(client())])

    expect(summaries.map((s) => s.applied).sort()).toEqual([0, MIGRATION_COUNT])
    const [row] = await db.sql`select count(*)::int as n from drizzle.__drizzle_migrations`
    expect(row?.n).toBe(MIGRATION_COUNT)
  })

  it('waits while another session holds the migration lock', async () => {
    const holder = await client().reserve()
    await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`

    const run = runMigrations(client())
    await vi.waitFor(
      async () => {
        const [row] = await db.sql`
          select count(*)::int as n from pg_locks
          where locktype = 'advisory' and objid = ${MIGRATION_LOCK_KEY} and not granted
            and database = (select oid from pg_database where datname = current_database())`
        expect(row?.n).toBe(1)
      },
      { timeout: 10_000, interval: 20 },
    )
    const [early] = await db.sql`select to_regclass('user_preferences') as t`
    expect(early?.t).toBeNull()

    await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
    holder.release()

    expect(await run).toEqual({ applied: MIGRATION_COUNT, total: MIGRATION_COUNT })
  })

  it('rolls every migration back and releases the lock when one fails', async () => {
    const folder = await migrationsWith({ tag: '0099_broken', sql: 'select 1 / 0;' })
    try {
      await expect(runMigrations(db.sql, { migrationsFolder: folder })).rejects.toMatchObject({
        cause: { message: 'division by zero' },
      })

      const [table] = await db.sql`select to_regclass('user_preferences') as t`
      expect(table?.t).toBeNull()
      const [locks] = await db.sql`
        select count(*)::int as n from pg_locks
        where locktype = 'advisory'
          and database = (select oid from pg_database where datname = current_database())`
      expect(locks?.n).toBe(0)
      expect(await runMigrations(client())).toEqual({
        applied: MIGRATION_COUNT,
        total: MIGRATION_COUNT,
      })
    } finally {
      await rm(folder, { recursive: true, force: true })
    }
  })

  it('runs on a pool of a single connection', async () => {
    const summary = await runMigrations(client({ max: 1 }))

    expect(summary.applied).toBe(MIGRATION_COUNT)
  })

  it('leaves the caller’s client parsing timestamps as Date', async () => {
    await runMigrations(db.sql)

    const [row] = await db.sql`select now() as at`
    expect(row?.at).toBeInstanceOf(Date)
  })
})

describe('findMigrationsFolder', () => {
  let root: string
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'find-migrations-'))
  })
  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('finds the repository’s migrations from the source folder', () => {
    expect(findMigrationsFolder(join(REPO, 'shared', 'db'))).toBe(MIGRATIONS)
  })

  it('finds them from a compiled build three folders further down', async () => {
    await mkdir(join(root, 'migrations', 'meta'), { recursive: true })
    await writeFile(join(root, 'migrations', 'meta', '_journal.json'), '{"entries":[]}')
    await mkdir(join(root, 'dist', 'shared', 'db'), { recursive: true })

    expect(findMigrationsFolder(join(root, 'dist', 'shared', 'db'))).toBe(join(root, 'migrations'))
  })

  it('ignores a migrations folder without a journal and says where it looked', async () => {
    await mkdir(join(root, 'migrations'), { recursive: true })

    expect(() => findMigrationsFolder(root)).toThrow(root)
  })
})

/** A copy of the project's migrations with one more at the end. */
async function migrationsWith(extra: { tag: string; sql: string }): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'migrations-'))
  await cp(MIGRATIONS, folder, { recursive: true })
  const last = journal.entries.at(-1)
  const entry = {
    idx: journal.entries.length,
    version: last?.version ?? '7',
    when: (last?.when ?? 0) + 1,
    tag: extra.tag,
    breakpoints: true,
  }
  const extended: Journal = { ...journal, entries: [...journal.entries, entry] }
  await writeFile(join(folder, 'meta', '_journal.json'), JSON.stringify(extended))
  await writeFile(join(folder, `${extra.tag}.sql`), extra.sql)
  return folder
}
