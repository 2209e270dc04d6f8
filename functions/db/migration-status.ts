import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type postgres from 'postgres'
import { findMigrationsFolder } from './migrate.js'

/** How far a database is from the migrations in `migrations/`. */
export interface MigrationStatus {
  /** Migrations recorded as applied in the database. */
  applied: number
  /** Migrations in the journal. */
  known: number
}

/**
 * Counts the applied migrations (drizzle's `drizzle.__drizzle_migrations`, none when it does not
 * exist yet) against the journal, read-only: nothing is locked or changed.
 */
export async function migrationStatus(
  sql: postgres.Sql,
  migrationsFolder: string = findMigrationsFolder(),
): Promise<MigrationStatus> {
  const journal = JSON.parse(
    await readFile(join(migrationsFolder, 'meta', '_journal.json'), 'utf8'),
  ) as { entries: unknown[] }
  const [found] = await sql<{ exists: boolean }[]>`
    select to_regclass('drizzle.__drizzle_migrations') is not null as exists`
  if (!found?.exists) return { applied: 0, known: journal.entries.length }
  const [row] = await sql<
    { n: number }[]
  >`select count(*)::int as n from drizzle.__drizzle_migrations`
  return { applied: Number(row?.n ?? 0), known: journal.entries.length }
}
