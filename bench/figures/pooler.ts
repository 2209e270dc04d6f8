import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_POOL_SIZE } from '../../shared/postgres/create-sql.js'
import { freePort } from '../../test/support/free-port.js'
import { type LibpqTarget, type PgbenchResult, pgbench } from '../../test/support/libpq-tools.js'
import { spawnNode } from '../child-process.js'
import { BENCH_USER, POINT_SELECT_SQL } from '../database.js'
import type { FigureReport } from '../report.js'
import { getJson, untilReady } from '../server-probes.js'
import { CLIENT_TOKEN, ROLES } from '../stack.js'
import { median, round } from '../stats.js'
import type { StackFigureContext } from './context.js'

/** Services on one host, each with a pool of its own: the "N services". */
const POOLER_SERVICES = 4
/** Each service's pool: `createSql`'s default size. */
const SERVICE_POOL_SIZE = DEFAULT_POOL_SIZE
/**
 * PgBouncer's server connections for all of them together (`BROKER_PGBOUNCER_POOL_SIZE`), in
 * transaction mode: one service's worth, shared.
 */
const POOLER_POOL_SIZE = DEFAULT_POOL_SIZE
/** How often the role's server connections are counted while the services run. */
const COUNT_EVERY_MS = 50

export interface PoolerFigure {
  /** pgbench, one client, one connection, a point select per transaction: average latency. */
  directLatencyMs: number
  pooledLatencyMs: number
  /** Median over the rounds of (pooled − direct): what PgBouncer on the socket adds. */
  addedLatencyMs: number
  perRoundAddedMs: number[]
  /** The same with a new connection per transaction (`-C`): a login each time, or none. */
  directConnectLatencyMs: number
  pooledConnectLatencyMs: number
  /** {@link POOLER_SERVICES} pgbench processes of {@link SERVICE_POOL_SIZE} clients at once. */
  services: number
  servicePoolSize: number
  /** The most server connections of the role seen while they ran, directly and through PgBouncer. */
  directServerConnections: number
  pooledServerConnections: number
  directTps: number
  pooledTps: number
}

interface PoolerOptions {
  /** Postgres itself, as the role, with the broker's current token. */
  direct: LibpqTarget
  /** PgBouncer's socket (transaction mode, {@link POOLER_POOL_SIZE}). */
  pooled: LibpqTarget
  /** The role's server connections open now. */
  countConnections(): Promise<number>
  rounds: number
  runS: number
}

/**
 * What the local PgBouncer costs and saves, measured with pgbench on the bench's point select:
 * the latency it adds on a kept connection (direct and pooled runs interleaved, round by round),
 * the latency of a new connection per transaction (a SCRAM login each time, or none), and the
 * server connections {@link POOLER_SERVICES} services with pools of their own hold, against the
 * ones PgBouncer holds for all of them.
 */
async function measurePooler(options: PoolerOptions): Promise<PoolerFigure> {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-bench-pooler-'))
  try {
    const script = join(dir, 'point-select.sql')
    const literal = `'${BENCH_USER.replaceAll("'", "''")}'`
    await writeFile(script, `${POINT_SELECT_SQL.replace('$1', literal)};\n`)
    const run = (target: LibpqTarget, extra: string[], clients = 1) =>
      pgbench(target, [
        '-n',
        '-f',
        script,
        '-c',
        String(clients),
        '-T',
        String(options.runS),
        ...extra,
      ])
    const checked = (result: PgbenchResult, what: string) => {
      if (!Number.isFinite(result.latencyMs) || result.aborted > 0)
        throw new Error(`pgbench ${what} failed:\n${result.output}`)
      return result
    }

    const direct: number[] = []
    const pooled: number[] = []
    for (let round = 0; round < options.rounds; round++) {
      direct.push(checked(await run(options.direct, []), 'direct').latencyMs)
      pooled.push(checked(await run(options.pooled, []), 'pooled').latencyMs)
    }
    const directConnect = checked(await run(options.direct, ['-C']), 'direct -C')
    const pooledConnect = checked(await run(options.pooled, ['-C']), 'pooled -C')

    const services = async (target: LibpqTarget) => {
      let peak = 0
      let running = true
      const counting = (async () => {
        while (running) {
          peak = Math.max(peak, await options.countConnections())
          await new Promise((resolve) => setTimeout(resolve, COUNT_EVERY_MS))
        }
      })()
      const results = await Promise.all(
        Array.from({ length: POOLER_SERVICES }, (_, i) =>
          run(target, [], SERVICE_POOL_SIZE).then((r) => checked(r, `service ${i}`)),
        ),
      )
      running = false
      await counting
      return { peak, tps: results.reduce((sum, r) => sum + r.tps, 0) }
    }
    const directServices = await services(options.direct)
    const pooledServices = await services(options.pooled)

    const perRoundAddedMs = pooled.map((p, i) => p - (direct[i] as number))
    return {
      directLatencyMs: median(direct),
      pooledLatencyMs: median(pooled),
      addedLatencyMs: median(perRoundAddedMs),
      perRoundAddedMs,
      directConnectLatencyMs: directConnect.latencyMs,
      pooledConnectLatencyMs: pooledConnect.latencyMs,
      services: POOLER_SERVICES,
      servicePoolSize: SERVICE_POOL_SIZE,
      directServerConnections: directServices.peak,
      pooledServerConnections: pooledServices.peak,
      directTps: directServices.tps,
      pooledTps: pooledServices.tps,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * The pooler figure: a broker of its own role supervising PgBouncer (transaction mode) on a socket
 * in the bench's cache folder, against Postgres directly on the same login.
 */
export async function runPooler({
  plan,
  progress,
  stack,
}: StackFigureContext): Promise<PoolerFigure> {
  progress(
    `pooler: PgBouncer on the socket vs Postgres directly, ${plan.poolerRounds} interleaved rounds of ${plan.poolerRunS} s; ${POOLER_SERVICES} services of ${SERVICE_POOL_SIZE}`,
  )
  const { pg, db, admin } = stack
  const socket = { dir: join(stack.cache, 'pgbouncer'), port: await freePort() }
  const pooled = await stack.brokerEnv({
    ...stack.steadyWorkspace.brokerEnv(ROLES.pooler),
    BROKER_PGBOUNCER: 'true',
    BROKER_PGBOUNCER_DIR: socket.dir,
    BROKER_PGBOUNCER_PORT: String(socket.port),
    BROKER_PGBOUNCER_POOL_MODE: 'transaction',
    BROKER_PGBOUNCER_POOL_SIZE: String(POOLER_POOL_SIZE),
  })
  const poolerBroker = stack.started('pooler-broker', spawnNode(stack.entries.broker, pooled.env))
  await poolerBroker.waitFor(/pgbouncer listening/)
  await untilReady(pooled.url)
  const login = JSON.parse((await getJson(`${pooled.url}/v1/credentials`, CLIENT_TOKEN)).text) as {
    user: string
    password: string
  }
  const figure = await measurePooler({
    direct: {
      host: pg.host,
      port: pg.port,
      database: db.database,
      user: login.user,
      password: login.password,
    },
    pooled: { host: socket.dir, port: socket.port, database: db.database, user: login.user },
    countConnections: async () => {
      const [row] = await admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where usename = ${ROLES.pooler}`
      return row?.n ?? 0
    },
    rounds: plan.poolerRounds,
    runS: plan.poolerRunS,
  })
  await poolerBroker.stop()
  progress(
    `  +${round(figure.addedLatencyMs, 3)} ms per point select; ${figure.pooledServerConnections} vs ${figure.directServerConnections} server connections`,
  )
  return figure
}

/** The latency PgBouncer adds and the server connections it holds, each with its counterpart. */
export function poolerReport(pooler: PoolerFigure): FigureReport {
  return {
    values: {
      pooler_added_latency_ms: pooler.addedLatencyMs,
      pooler_server_connections: pooler.pooledServerConnections,
    },
    notes: {
      pooler_added_latency_ms: `${round(pooler.pooledLatencyMs, 3)} vs ${round(pooler.directLatencyMs, 3)} ms; new connection per transaction ${round(pooler.pooledConnectLatencyMs, 2)} vs ${round(pooler.directConnectLatencyMs, 2)} ms`,
      pooler_server_connections: `vs ${pooler.directServerConnections} with pools of their own; ${round(pooler.pooledTps, 0)} vs ${round(pooler.directTps, 0)} tps`,
    },
    details: { pooler },
  }
}
