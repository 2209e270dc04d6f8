import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { BrokerCredentials, SslMode } from 'lakebase-broker'
import { databaseErrorAnswer, safeDatabaseMessage, sqlstateOf } from 'lakebase-broker'
import {
  createSql,
  DEFAULT_POOL_SIZE,
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  STATEMENT_TIMEOUT_MS,
  sqlStats,
} from 'lakebase-broker/postgres'
import type { Logger } from 'pino'
import type postgres from 'postgres'
import * as schema from './schema.js'

export type Db = PostgresJsDatabase<typeof schema>

/**
 * A statement built once per database instead of once per request: `build` makes a drizzle
 * prepared query (`….prepare(name)`, values as `sql.placeholder(…)`), and each call with the
 * same `db` returns the one built for it. Building a query is most of drizzle's cost (its
 * `_prepare` was 18 % of the functions' CPU; see BENCHMARKS.md); a prepared one only fills in
 * its values. Built on first use, so a Worker's per-request database gets its own.
 */
export function prepared<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const built = new WeakMap<Db, Q>()
  return (db) => {
    let query = built.get(db)
    if (query === undefined) {
      query = build(db)
      built.set(db, query)
    }
    return query
  }
}

export interface FunctionsDatabaseOptions {
  credentials: BrokerCredentials
  /** `PGSSLMODE` when set; else the credential's own `ssl`. */
  sslMode?: SslMode | undefined
  max?: number
  applicationName?: string
  /** Postgres cancels a statement after this long. Default 30 s. */
  statementTimeoutMs?: number
  /** Postgres ends a session idle inside a transaction after this long. Default 30 s. */
  idleInTransactionTimeoutMs?: number
  /** How long a statement that never ran waits for a waking server (see createSql). */
  wakeTimeoutMs?: number
  logger?: Logger
}

export interface PoolStats {
  max: number
  /** Connections currently open (logged in and not yet closed). */
  open: number
  logins: number
  closes: number
  /** The role of the login in use. */
  login_user: string | null
}

/**
 * Postgres through broker credentials, for the functions: a drizzle database over
 * {@link createSql}, which holds every retry rule (a refused password, a dropped connection, a
 * conflict, a waking server). `run` turns what still fails into the error body the SQLSTATE
 * table gives (shared/client/sqlstate.ts) and logs it by SQLSTATE, never by value.
 */
export class FunctionsDatabase {
  private readonly sqlClient: postgres.Sql
  private readonly db: Db
  private readonly max: number

  constructor(private readonly options: FunctionsDatabaseOptions) {
    this.max = options.max ?? DEFAULT_POOL_SIZE
    this.sqlClient = createSql({
      credentials: options.credentials,
      sslMode: options.sslMode,
      max: this.max,
      logger: options.logger,
      wakeTimeoutMs: options.wakeTimeoutMs,
      connection: {
        application_name: options.applicationName ?? 'lakebase-functions',
        statement_timeout: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
        idle_in_transaction_session_timeout:
          options.idleInTransactionTimeoutMs ?? IDLE_IN_TRANSACTION_TIMEOUT_MS,
      },
    })
    this.db = drizzle(preparing(this.sqlClient), { schema })
  }

  /**
   * Runs `operation`, named `name` in logs, on drizzle or, for the hottest reads, on the
   * postgres.js client underneath (a tagged template is prepared once per connection and its
   * rows come back as they are, without drizzle's mapping: see BENCHMARKS.md). Its statements
   * are retried by createSql's rules (a read after a dropped connection, never a write that may
   * have committed); a failure that remains becomes its answer (503 `DATABASE_NOT_MIGRATED`,
   * `DATABASE_UNAVAILABLE`, …). Errors the operation throws itself, and bugs, pass through.
   */
  async run<T>(
    operation: (db: Db, sql: postgres.Sql) => Promise<T>,
    { name = operation.name || 'query' } = {},
  ) {
    try {
      return await operation(this.db, this.sqlClient)
    } catch (err) {
      const answer = databaseErrorAnswer(err, {
        user: sqlStats(this.sqlClient)?.login_user ?? undefined,
      })
      if (!answer) throw err
      this.options.logger?.warn(
        {
          operation: name,
          code: sqlstateOf(err),
          error_code: answer.code,
          postgres: safeDatabaseMessage(err),
        },
        'database operation failed',
      )
      throw answer
    }
  }

  /** `select 1` timed, for the health route. */
  async ping(): Promise<number> {
    return this.run(
      async (db) => {
        const started = performance.now()
        await db.execute('select 1')
        return Math.round((performance.now() - started) * 100) / 100
      },
      { name: 'ping' },
    )
  }

  stats(): PoolStats {
    return (
      sqlStats(this.sqlClient) ?? { max: this.max, open: 0, logins: 0, closes: 0, login_user: null }
    )
  }

  /** The postgres.js client underneath (with the same retry rules), e.g. for migration status. */
  async sql(): Promise<postgres.Sql> {
    return this.sqlClient
  }

  async close(): Promise<void> {
    await this.sqlClient.end({ timeout: 5 })
  }
}

/**
 * drizzle sends every query unprepared (`unsafe(…, { prepare: false })`) unless it is named, so
 * Postgres would parse and plan each request's query again: 4x the database CPU of a prepared
 * one (see BENCHMARKS.md). postgres.js caches prepared statements per connection; Lakebase
 * connections are direct (no transaction pooler), and the app's query texts are a bounded set.
 */
function preparing(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property !== 'unsafe') return Reflect.get(target, property, receiver)
      // v4 adds unsafe(query, options); both versions take (query, params, options).
      const unsafe = ((query: string, params?: unknown, options?: object) =>
        Array.isArray(params) || params === undefined
          ? target.unsafe(query, params as postgres.ParameterOrJSON<never>[] | undefined, {
              ...options,
              prepare: true,
            })
          : target.unsafe(query, [], {
              ...(params as object),
              prepare: true,
            })) as postgres.Sql['unsafe']
      return unsafe
    },
  })
}
