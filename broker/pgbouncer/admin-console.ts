import postgres from 'postgres'
import { singleFlight } from '../../shared/client/single-flight.js'
import { ADMIN_DATABASE, STATS_USER } from './config-file.js'

/**
 * Figures younger than this are answered again instead of asking PgBouncer: one `/metrics`
 * scrape reads several gauges, and the status page polls every two seconds.
 */
export const FIGURES_MAX_AGE_MS = 1_000
/** The admin console answers from memory; a reader that waits longer finds PgBouncer stuck. */
const ADMIN_CONNECT_TIMEOUT_S = 2
/** The console connection is closed after this idle time, so a broker nobody watches holds none. */
const ADMIN_IDLE_TIMEOUT_S = 30

/** One pool (a database, as the server user) by `SHOW POOLS`. */
export interface PoolFigures {
  database: string
  clientsActive: number
  clientsWaiting: number
  serversActive: number
  serversIdle: number
  /** Server connections back from a client and not yet checked or reset. */
  serversUsed: number
  serversLogin: number
  /** How long the oldest waiting client has waited, in seconds. */
  maxWaitS: number
  poolMode: string
}

/** One database's totals since PgBouncer started, by `SHOW STATS`. */
export interface DatabaseStats {
  database: string
  transactions: number
  queries: number
  /** Time clients spent waiting for a server connection, in seconds. */
  clientWaitS: number
  /** Average transaction time over the last stats period (60 s), in microseconds. */
  avgTransactionUs: number
}

export interface PoolerFigures {
  /** When they were read (epoch ms). */
  at: number
  pools: PoolFigures[]
  stats: DatabaseStats[]
}

type Row = Record<string, unknown>
const num = (row: Row, column: string) => Number(row[column] ?? 0) || 0
const MICROSECONDS = 1_000_000

/**
 * Reads `SHOW POOLS` and `SHOW STATS` from PgBouncer's admin console, over its socket, as the
 * stats-only user: no password (the socket's folder is the gate) and no admin rights. The
 * console speaks only the simple query protocol and has no types to fetch. Its own database is
 * left out of the figures. Columns are read by name, as each PgBouncer version adds some.
 */
export class AdminConsole {
  readonly #sql: postgres.Sql
  readonly #now: () => number
  #last: PoolerFigures | undefined
  readonly #read = singleFlight(() => this.#readNow())

  constructor(socketDir: string, port: number, now: () => number = Date.now) {
    this.#now = now
    this.#sql = postgres({
      host: socketDir,
      port,
      database: ADMIN_DATABASE,
      username: STATS_USER,
      max: 1,
      fetch_types: false,
      connect_timeout: ADMIN_CONNECT_TIMEOUT_S,
      idle_timeout: ADMIN_IDLE_TIMEOUT_S,
      onnotice: () => {},
    })
  }

  /** The last figures read, if any, without asking. */
  get last(): PoolerFigures | undefined {
    return this.#last
  }

  /** Fresh figures (at most {@link FIGURES_MAX_AGE_MS} old); one read however many ask. */
  figures(): Promise<PoolerFigures> {
    const last = this.#last
    if (last !== undefined && this.#now() - last.at < FIGURES_MAX_AGE_MS)
      return Promise.resolve(last)
    return this.#read()
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 1 })
  }

  async #readNow(): Promise<PoolerFigures> {
    const pools = (await this.#sql.unsafe('SHOW POOLS').simple()) as Row[]
    const stats = (await this.#sql.unsafe('SHOW STATS').simple()) as Row[]
    const ours = (row: Row) => row.database !== ADMIN_DATABASE
    const figures: PoolerFigures = {
      at: this.#now(),
      pools: pools.filter(ours).map((row) => ({
        database: String(row.database),
        clientsActive: num(row, 'cl_active'),
        clientsWaiting: num(row, 'cl_waiting'),
        serversActive: num(row, 'sv_active'),
        serversIdle: num(row, 'sv_idle'),
        serversUsed: num(row, 'sv_used'),
        serversLogin: num(row, 'sv_login'),
        maxWaitS: num(row, 'maxwait') + num(row, 'maxwait_us') / MICROSECONDS,
        poolMode: String(row.pool_mode ?? ''),
      })),
      stats: stats.filter(ours).map((row) => ({
        database: String(row.database),
        transactions: num(row, 'total_xact_count'),
        queries: num(row, 'total_query_count'),
        clientWaitS: num(row, 'total_wait_time') / MICROSECONDS,
        avgTransactionUs: num(row, 'avg_xact_time'),
      })),
    }
    this.#last = figures
    return figures
  }
}
