import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os'
import {
  BROKER_CONNECTIONS,
  type BrokerThroughput,
  brokerThroughputReport,
} from './figures/broker-throughput.js'
import {
  CLIENT_INSTANCES,
  CLIENT_PROCESSES,
  type ClientsScaling,
  clientsScalingReport,
} from './figures/clients-scaling.js'
import { COLD_REQUESTS, type ColdBurst, coldBurstReport } from './figures/cold-burst.js'
import {
  FUNCTIONS_CONNECTIONS,
  type FunctionsThroughput,
  functionsThroughputReport,
} from './figures/functions-throughput.js'
import { type PoolerFigure, poolerReport } from './figures/pooler.js'
import {
  ROTATION_CONNECTIONS,
  type RotationRun,
  rotationAlternatives,
  rotationReport,
} from './figures/rotation.js'
import {
  ALTERNATIVE_MAX_LIFETIME_S,
  ROTATION_BROKER_MIN_TTL_S,
} from './figures/rotation-designs.js'
import { type StartTime, startTimeReport } from './figures/start-time.js'
import {
  MANY_TARGETS,
  type TargetsScaling,
  targetsScalingReport,
} from './figures/targets-scaling.js'
import { BUDGET_S, type FigureName, type Plan, plannedSeconds } from './plan.js'
import {
  type BenchJson,
  type FigureReport,
  formatTable,
  mergeReports,
  reportRows,
  toJson,
} from './report.js'
import { ROTATION_LIFETIME_S, STEADY_LIFETIME_S } from './stack.js'
import { round } from './stats.js'

/** What each figure measured in this run, under its `--only` name; a figure left out is absent. */
export interface Measured {
  start?: StartTime
  broker?: BrokerThroughput
  targets?: TargetsScaling
  cold?: ColdBurst
  clients?: ClientsScaling
  functions?: FunctionsThroughput
  rotation?: RotationRun
  pooler?: PoolerFigure
}

/** How the run went, for the JSON's `machine` and `settings`. */
export interface RunCircumstances {
  plan: Plan
  only: ReadonlySet<FigureName> | undefined
  elapsedS: number
  /** The load average when the bench began (the one at its end is read here). */
  loadBefore: number[]
  upstreamLatencyMs: number
}

/** The run's JSON and its table of every figure against its goal. */
export function runReport(
  measured: Measured,
  run: RunCircumstances,
): { json: BenchJson; table: string } {
  const report = mergeReports(figureReports(measured))
  const json = toJson(report.values, {
    rounds: report.rounds,
    ...rotationAlternatives(measured.rotation),
    details: report.details,
    machine: machine(run.loadBefore),
    settings: settings(run),
  })
  return { json, table: formatTable(reportRows(json, report)) }
}

/**
 * Each measured figure's report in the order of the table's goals, which is also the order of
 * the JSON's `details`. The broker's memory note tells the cold burst's peak too.
 */
function figureReports(m: Measured): FigureReport[] {
  return [
    m.broker && brokerThroughputReport(m.broker, m.cold),
    m.targets && targetsScalingReport(m.targets),
    m.cold && coldBurstReport(m.cold),
    m.clients && clientsScalingReport(m.clients),
    m.functions && functionsThroughputReport(m.functions),
    m.rotation && rotationReport(m.rotation),
    m.start && startTimeReport(m.start),
    m.pooler && poolerReport(m.pooler),
  ].filter((report) => report !== undefined)
}

function machine(loadBefore: number[]): Record<string, unknown> {
  return {
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model,
    memory_gb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${platform()} ${release()}`,
    load_average_before: loadBefore.map((l) => round(l)),
    load_average_after: loadavg().map((l) => round(l)),
    date: new Date().toISOString(),
  }
}

/** The plan, what it ran and every constant a figure depends on. */
function settings(run: RunCircumstances): Record<string, unknown> {
  return {
    ...run.plan,
    only: run.only ? [...run.only] : 'all',
    planned_s: plannedSeconds(run.plan, run.only),
    elapsed_s: round(run.elapsedS, 1),
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
    upstream_latency_ms: run.upstreamLatencyMs,
    servers: 'node, compiled with tsconfig.build.json into node_modules/.cache/lakebase-bench',
  }
}
