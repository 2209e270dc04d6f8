import { Counter, Gauge, type Registry } from 'prom-client'
import type { PoolerFigures, PoolFigures } from './admin-console.js'

/** What the pooler's metrics are read from. */
export interface PoolerMetricsSource {
  up(): boolean
  restarts(): number
  /** `SHOW POOLS` and `SHOW STATS`, read when `/metrics` is scraped. */
  figures(): Promise<PoolerFigures>
}

/** The counters the pooler feeds from PgBouncer's log. */
export interface PoolerCounters {
  serverConnections: Counter<'database'>
  refusedLogins: Counter<'database'>
}

type NumberOf<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T]

/**
 * The local PgBouncer's metrics, on the broker's registry: whether it runs, its restarts, the
 * server connections it opened and the logins Postgres refused (from its log), and its pools and
 * totals (from its admin console, at scrape time). Labels are database names and states, never a
 * credential. A scrape while PgBouncer does not answer leaves the pool figures out rather than
 * failing.
 */
export function registerPoolerMetrics(
  registry: Registry,
  source: PoolerMetricsSource,
): PoolerCounters {
  const registers = [registry]
  const figures = async () => source.figures().catch(() => undefined)
  new Gauge({
    name: 'lakebase_broker_pgbouncer_up',
    help: '1 while the local PgBouncer runs and listens',
    registers,
    collect() {
      this.set(source.up() ? 1 : 0)
    },
  })
  new Counter({
    name: 'lakebase_broker_pgbouncer_restarts_total',
    help: 'Times PgBouncer was started again after it died',
    registers,
    collect() {
      this.reset()
      this.inc(source.restarts())
    },
  })
  const serverConnections = new Counter({
    name: 'lakebase_broker_pgbouncer_server_connections_total',
    help: 'Server connections PgBouncer opened (each one logs in with the current credential)',
    labelNames: ['database'],
    registers,
  })
  const refusedLogins = new Counter({
    name: 'lakebase_broker_pgbouncer_refused_logins_total',
    help: "Server logins Postgres refused (28P01); each reports the credential refused, as a client's would",
    labelNames: ['database'],
    registers,
  })

  /** One gauge per pool and state, each state read from a field of `SHOW POOLS`. */
  const byState = (name: string, help: string, states: Record<string, NumberOf<PoolFigures>>) =>
    new Gauge({
      name,
      help,
      labelNames: ['database', 'state'],
      registers,
      async collect() {
        this.reset()
        for (const pool of (await figures())?.pools ?? []) {
          for (const [state, field] of Object.entries(states))
            this.set({ database: pool.database, state }, pool[field])
        }
      },
    })
  /** One value per database, read from the figures at scrape time. */
  const byDatabase = (
    Metric: typeof Gauge | typeof Counter,
    name: string,
    help: string,
    values: (f: PoolerFigures) => [database: string, value: number][],
  ) =>
    new Metric({
      name,
      help,
      labelNames: ['database'],
      registers,
      async collect() {
        this.reset()
        const read = await figures()
        for (const [database, value] of read ? values(read) : []) {
          if (this instanceof Gauge) this.set({ database }, value)
          else this.inc({ database }, value)
        }
      },
    })

  byState(
    'lakebase_broker_pgbouncer_clients',
    'Client connections by state (active: paired with a server or idle in session; waiting: for a server)',
    { active: 'clientsActive', waiting: 'clientsWaiting' },
  )
  byState(
    'lakebase_broker_pgbouncer_servers',
    'Server connections by state (active, idle, used: awaiting reset, login: logging in)',
    { active: 'serversActive', idle: 'serversIdle', used: 'serversUsed', login: 'serversLogin' },
  )
  byDatabase(
    Gauge,
    'lakebase_broker_pgbouncer_max_wait_seconds',
    'How long the oldest client waiting for a server connection has waited',
    (f) => f.pools.map((p) => [p.database, p.maxWaitS]),
  )
  byDatabase(
    Counter,
    'lakebase_broker_pgbouncer_transactions_total',
    'Transactions PgBouncer passed to servers since it started',
    (f) => f.stats.map((s) => [s.database, s.transactions]),
  )
  byDatabase(
    Counter,
    'lakebase_broker_pgbouncer_client_wait_seconds_total',
    'Time clients spent waiting for a server connection since PgBouncer started',
    (f) => f.stats.map((s) => [s.database, s.clientWaitS]),
  )
  return { serverConnections, refusedLogins }
}
