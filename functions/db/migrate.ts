import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import type postgres from 'postgres'

/**
 * The session-level advisory lock that serialises migration runs across processes. Any fixed
 * number works as long as nothing else in the database locks it: this one is "lake" in ASCII.
 */
export const MIGRATION_LOCK_KEY = 0x6c616b65

/** Where drizzle's migrator records applied migrations (its defaults, spelled out). */
const MIGRATIONS_SCHEMA = 'drizzle'
const MIGRATIONS_TABLE = '__drizzle_migrations'

export interface MigrationOptions {
  /** Holds `meta/_journal.json` and the SQL files; default: {@link findMigrationsFolder}. */
  migrationsFolder?: string
}

export interface MigrationSummary {
  /** Migrations this call applied: 0 when the database was already up to date. */
  applied: number
  /** Migrations recorded in the database after this call. */
  total: number
}

/**
 * Brings the database to the latest schema: applies the migrations in `migrations/` that it has
 * not applied yet, all in one transaction, or none. A database the Python app created (Alembic
 * revisions 001–003) is adopted in place by the first of them.
 *
 * Safe to run from several processes at once: each run holds {@link MIGRATION_LOCK_KEY} on one
 * reserved connection of `sql` for its whole duration, so a second run waits, then finds
 * nothing left to apply. Everything runs on that connection, so a pool of one suffices, and
 * the pool's own settings (such as how it parses timestamps) are left as they were.
 */
export async function runMigrations(
  sql: postgres.Sql,
  options: MigrationOptions = {},
): Promise<MigrationSummary> {
  const migrationsFolder = options.migrationsFolder ?? findMigrationsFolder()
  const connection = await sql.reserve()
  try {
    await connection`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
    try {
      const before = await countApplied(connection)
      await migrate(drizzle(onOneConnection(connection)), {
        migrationsFolder,
        migrationsSchema: MIGRATIONS_SCHEMA,
        migrationsTable: MIGRATIONS_TABLE,
      })
      const total = await countApplied(connection)
      return { applied: total - before, total }
    } finally {
      // If this fails the connection is gone, and the server released its session lock with it.
      await connection`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {})
    }
  } finally {
    connection.release()
  }
}

/**
 * The nearest `migrations/` folder (one holding `meta/_journal.json`) in `startDir` or above it.
 * From the sources (`functions/db/`) and from a compiled build (`dist/functions/db/`) alike, that is
 * the repository's `migrations/`, whatever the working directory.
 */
export function findMigrationsFolder(
  startDir: string = dirname(fileURLToPath(import.meta.url)),
): string {
  for (let dir = startDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'migrations')
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate
    if (dirname(dir) === dir) {
      throw new Error(`No migrations/meta/_journal.json in ${startDir} or any folder above it`)
    }
  }
}

async function countApplied(connection: postgres.Sql | postgres.ReservedSql): Promise<number> {
  const table = `${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`
  const [found] = await connection`select to_regclass(${table}) is not null as exists`
  if (!found?.exists) return 0
  const [row] = await connection.unsafe(`select count(*)::int as n from ${table}`)
  return Number(row?.n)
}

/**
 * The reserved connection as the postgres.js client drizzle's session expects. A reserved
 * connection has no `begin`, so transactions are spelled out here; and drizzle rewrites the
 * `options.parsers` of the client it is given, which on the real client would change how the
 * caller's whole pool parses timestamps, so it gets options of its own.
 */
function onOneConnection(connection: postgres.ReservedSql): postgres.Sql {
  const client: MigratorClient = {
    options: { parsers: {}, serializers: {} },
    unsafe: (query, params) => connection.unsafe(query, params),
    async begin(run) {
      await connection.unsafe('begin')
      try {
        const result = await run(client)
        await connection.unsafe('commit')
        return result
      } catch (error) {
        // A failed rollback means the connection is gone and the server rolled back with it;
        // the migration's own error is the one worth reporting.
        await connection.unsafe('rollback').catch(() => {})
        throw error
      }
    },
  }
  // Only the members above are used by drizzle's migrator (execute, all, transaction).
  return client as unknown as postgres.Sql
}

/** The part of a postgres.js client that drizzle's session uses while migrating. */
interface MigratorClient {
  options: { parsers: Record<string, unknown>; serializers: Record<string, unknown> }
  unsafe(
    query: string,
    params?: postgres.ParameterOrJSON<never>[],
  ): postgres.PendingQuery<postgres.Row[]>
  begin<T>(run: (tx: MigratorClient) => Promise<T>): Promise<T>
}
