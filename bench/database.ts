import { runMigrations } from '../functions/db/migrate.js'
import type { BenchPostgres } from './postgres.js'

/** The database every figure reads, named as on Lakebase. */
export const BENCH_DATABASE = 'databricks_postgres'
/** The signed-in user whose preferences every request reads (three rows). */
export const BENCH_USER = 'bench-user@example.com'
/** Other users' rows, so that the point select is an index lookup among many, as in production. */
const OTHER_USERS = 2_000

const SAMPLE_PREFERENCES: Record<string, unknown> = {
  theme: { mode: 'dark', accent_color: 'blue' },
  dashboard_layout: { widgets: ['chart1', 'chart2'], columns: 3 },
  favorite_tables: { tables: ['main.samples.demo', 'main.sales.orders'] },
}

export { POINT_SELECT_SQL } from './servers/queries.js'

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

export interface BenchDatabase {
  database: string
  /** Creates a login role (a workspace identity, as on Lakebase) that may use the tables. */
  createRole(role: string): Promise<void>
}

/** Creates the app's database with the project's migrations and sample rows. */
export async function prepareBenchDatabase(pg: BenchPostgres): Promise<BenchDatabase> {
  const maintenance = pg.admin()
  await maintenance.unsafe(`create database ${quoteIdent(BENCH_DATABASE)}`)
  await maintenance.end()
  const sql = pg.admin(BENCH_DATABASE)
  try {
    await runMigrations(sql)
    const users = [
      BENCH_USER,
      ...Array.from({ length: OTHER_USERS }, (_, i) => `user-${i}@example.com`),
    ]
    const rows = users.flatMap((user_id) =>
      Object.entries(SAMPLE_PREFERENCES).map(([preference_key, preference_value]) => ({
        user_id,
        preference_key,
        preference_value: sql.json(preference_value as Parameters<typeof sql.json>[0]),
      })),
    )
    for (let i = 0; i < rows.length; i += 1000) {
      await sql`insert into user_preferences ${sql(rows.slice(i, i + 1000))}`
    }
    await sql`analyze user_preferences`
  } finally {
    await sql.end()
  }
  return {
    database: BENCH_DATABASE,
    async createRole(role) {
      const admin = pg.admin(BENCH_DATABASE)
      try {
        await admin.unsafe(`create role ${quoteIdent(role)} with login`)
        await admin.unsafe(`grant all on all tables in schema public to ${quoteIdent(role)}`)
        await admin.unsafe(`grant all on all sequences in schema public to ${quoteIdent(role)}`)
      } finally {
        await admin.end()
      }
    },
  }
}
