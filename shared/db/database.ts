import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { BrokerCredentials } from '../broker-client.js'
import type { ServedCredential, SslMode } from '../credential.js'
import type { Logger } from '../logger.js'
import { sslOption } from '../tls.js'
import * as schema from './schema.js'
import { classify, codeOf, toAppError } from './sqlstate.js'

export type Db = PostgresJsDatabase<typeof schema>

/**
 * A login that takes longer than this is not coming: Postgres down or a network black hole.
 * Requests then fail with 503 in seconds instead of postgres.js's default 30 s.
 */
export const CONNECT_TIMEOUT_S = 5
/** A handler's query has this long before Postgres cancels it; no request hangs on a lock. */
export const STATEMENT_TIMEOUT_MS = 10_000
/** Idle connections are closed after 5 minutes, so an idle service holds no logins. */
export const IDLE_TIMEOUT_S = 300
/**
 * Connections are replaced after a random 30–60 minutes (postgres.js's own default, stated):
 * spread out, so a credential rotation never reconnects the whole pool at once.
 */
export const maxLifetimeS = () => 60 * (30 + Math.random() * 30)
/**
 * After a failed connection attempt postgres.js waits before the next one; its default grows
 * with every failure in the pool up to 20 s, so that after a Postgres restart a request could wait
 * that long on a connection that is not even trying. Capped at 1 s: a restarted server is noticed
 * within a second, and a request during the outage fails fast with 503.
 */
export const RECONNECT_BACKOFF_MAX_S = 1
/** The first retry waits 50 ms, doubling per failure up to {@link RECONNECT_BACKOFF_MAX_S}. */
export const reconnectBackoffS = (failures: number) =>
  Math.min(0.05 * 2 ** Math.max(0, failures - 1), RECONNECT_BACKOFF_MAX_S)
export const DEFAULT_POOL_SIZE = 10
/**
 * A rejected password is retried with a fresh credential up to this often, pausing
 * AUTH_RETRY_PAUSE_MS longer each time: a rotation lands in the broker within milliseconds.
 */
export const MAX_AUTH_RETRIES = 3
export const AUTH_RETRY_PAUSE_MS = 100

const pause = (ms: number) =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()

export interface DatabaseOptions {
  credentials: BrokerCredentials
  /** `PGSSLMODE` when set; else the credential's own `ssl`. */
  sslMode?: SslMode | undefined
  max?: number
  applicationName?: string
  logger?: Logger
}

/** A retired pool gets this long to finish its queries in flight before it is closed. */
export const POOL_DRAIN_S = 30

interface Pool {
  key: string
  sql: postgres.Sql
  db: Db
  user: string
}

export interface PoolStats {
  max: number
  /** Connections currently open (logged in and not yet closed). */
  open: number
  logins: number
  closes: number
  /** When the current pool was opened for the login in use. */
  login_user: string | null
}

/**
 * Postgres through broker credentials. The pool is opened with the user, host and database of
 * the broker's credential; its password function reads the broker client's current password and
 * never rejects (postgres.js does not catch a rejection there). Every operation first makes
 * sure a valid credential is held, so a broker without one fails the request in milliseconds
 * (503 CREDENTIAL_UNAVAILABLE) instead of a connection hanging until its timeout.
 */
export class Database {
  private pool: Pool | undefined
  private logins = 0
  private closes = 0
  private readonly max: number

  constructor(private readonly options: DatabaseOptions) {
    this.max = options.max ?? DEFAULT_POOL_SIZE
  }

  /**
   * Runs `operation`. A password rejected after a rotation (28P01: nothing ran, so always safe)
   * costs a fresh credential and a new login, not a failed request; a dropped connection (killed
   * backend, failover, restart) is retried once, on a new pool, for idempotent operations.
   * Other database failures become 503 DATABASE_UNAVAILABLE; errors the operation throws itself
   * pass through.
   */
  async run<T>(operation: (db: Db) => Promise<T>, { idempotent = true } = {}): Promise<T> {
    let authRetries = 0
    let connectionRetried = false
    for (;;) {
      const pool = await this.ready()
      try {
        return await operation(pool.db)
      } catch (err) {
        const failure = classify(err)
        if (failure === 'other') throw err
        // postgres.js 3.4 keeps a killed backend's error and hands it to the next query on the
        // reconnected connection, so a retry in the same pool can fail the same way. A dropped
        // connection therefore retires its pool (once); the retry, and everyone after, gets a
        // new one, while the old pool finishes what it has in flight.
        if (failure === 'connection') this.retire(pool)
        let retry = false
        if (failure === 'auth' && authRetries < MAX_AUTH_RETRIES) {
          this.options.credentials.forget()
          // The broker may still be storing the credential that replaced the rejected one.
          await pause(AUTH_RETRY_PAUSE_MS * authRetries)
          authRetries += 1
          retry = true
        } else if (failure === 'connection' && idempotent && !connectionRetried) {
          connectionRetried = true
          retry = true
        }
        this.options.logger?.warn(
          { failure, code: codeOf(err), retry },
          'database operation failed',
        )
        if (!retry) throw toAppError(failure, err)
      }
    }
  }

  /** `select 1` timed, for the health route. */
  async ping(): Promise<number> {
    return this.run(async (db) => {
      const started = performance.now()
      await db.execute('select 1')
      return Math.round((performance.now() - started) * 100) / 100
    })
  }

  stats(): PoolStats {
    return {
      max: this.max,
      open: Math.max(0, this.logins - this.closes),
      logins: this.logins,
      closes: this.closes,
      login_user: this.pool?.user ?? null,
    }
  }

  /** The raw postgres.js pool for the current login (opening it if needed). */
  async sql(): Promise<postgres.Sql> {
    return (await this.ready()).sql
  }

  async close(): Promise<void> {
    const pool = this.pool
    this.pool = undefined
    await pool?.sql.end({ timeout: 5 })
  }

  private retire(pool: Pool): void {
    if (this.pool !== pool) return
    this.pool = undefined
    void pool.sql.end({ timeout: POOL_DRAIN_S }).catch(() => {})
  }

  private async ready(): Promise<Pool> {
    const credential = await this.options.credentials.get()
    const key = loginKey(credential, this.sslMode(credential))
    if (this.pool?.key === key) return this.pool
    const previous = this.pool
    const sql = this.open(credential)
    this.pool = { key, sql, db: drizzle(preparing(sql), { schema }), user: credential.user }
    // A new user or host (rare: a reconfigured broker) gets a new pool; the old one drains.
    if (previous) void previous.sql.end({ timeout: POOL_DRAIN_S }).catch(() => {})
    return this.pool
  }

  private sslMode(credential: ServedCredential): SslMode {
    return this.options.sslMode ?? credential.ssl
  }

  private open(credential: ServedCredential): postgres.Sql {
    const credentials = this.options.credentials
    return postgres({
      host: credential.host,
      port: credential.port,
      database: credential.database,
      username: credential.user,
      password: () => {
        this.logins += 1
        return credentials.password()
      },
      ssl: sslOption(this.sslMode(credential), credential.host),
      max: this.max,
      connect_timeout: CONNECT_TIMEOUT_S,
      backoff: reconnectBackoffS,
      idle_timeout: IDLE_TIMEOUT_S,
      max_lifetime: maxLifetimeS(),
      onclose: () => {
        this.closes += 1
      },
      onnotice: () => {},
      connection: {
        application_name: this.options.applicationName ?? 'lakebase-functions',
        statement_timeout: STATEMENT_TIMEOUT_MS,
      },
    })
  }
}

function loginKey(c: ServedCredential, ssl: SslMode): string {
  return JSON.stringify([c.host, c.port, c.database, c.user, ssl])
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
      const unsafe: postgres.Sql['unsafe'] = (query, params, options) =>
        target.unsafe(query, params, { ...options, prepare: true })
      return unsafe
    },
  })
}
