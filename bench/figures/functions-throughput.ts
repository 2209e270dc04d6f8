import type postgres from 'postgres'
import { withCpu } from '../cpu.js'
import { BENCH_USER, POINT_SELECT_SQL } from '../database.js'
import { runInterleaved } from '../interleave.js'
import { type LoadResult, load } from '../load.js'
import { FUNCTIONS_WARMUP_S as WARMUP_S } from '../plan.js'
import type { FigureReport } from '../report.js'
import { median, round } from '../stats.js'
import type { StackFigureContext } from './context.js'
import { startFunctionsVariants } from './functions-variants.js'

/** The same 64 clients as against the broker. */
export const FUNCTIONS_CONNECTIONS = 64
/**
 * Each round's run of a variant is cut into this many slices, the variants taking turns slice by
 * slice in alternating order (A B C … C B A …): this machine's speed drifts over seconds (every
 * variant's CPU per request moved by 20–30 % from one 3 s run to the next), and a round's ratio
 * then compares slices a second or two apart instead of runs several seconds apart. An even count,
 * so that every round holds as many forward passes as reverse ones and no variant's place in the
 * order favours it within a round.
 */
export const SLICES_PER_ROUND = 2

export interface FunctionsThroughputOptions {
  /** The functions with broker credentials (cli/commands/functions.js). */
  brokerUrl: string
  /** The same functions with a fixed password. */
  staticUrl: string
  /** …and again, as another process: the A/A control of what identical servers spread. */
  twinUrl: string
  /** The route written by hand on Hono and postgres.js, with a fixed password. */
  bareStackUrl: string
  /** The route by hand on `lakebase-broker/postgres` (createSql) and on `lakebase-broker/pg`. */
  entryPostgresUrl: string
  entryPgUrl: string
  /** The same route on a bare `pg.Pool` with a fixed password: createPool's own floor. */
  rawPgUrl: string
  /** postgres.js on the same database, login and pool size as the functions. */
  raw: postgres.Sql
  rounds: number
  durationS: number
  /** Each HTTP variant's server process, for its CPU per request (from procfs). */
  pids?: Partial<Record<HttpVariant, number>>
}

type HttpVariant =
  | 'broker'
  | 'static'
  | 'twin'
  | 'bareStack'
  | 'entryPostgres'
  | 'entryPg'
  | 'rawPg'

export interface FunctionsThroughput {
  /** Median over rounds of functions-with-broker req/s ÷ functions-with-static-password req/s. */
  vsStatic: number
  /** Median over rounds of functions-with-broker req/s ÷ raw point selects/s. */
  vsRaw: number
  /** Median over rounds of functions-with-broker req/s ÷ the hand-written Hono + postgres.js route. */
  vsBareStack: number
  /** Median over rounds of the createPool route's req/s ÷ the createSql route's. */
  pgVsPostgres: number
  /** Median over rounds of the createPool route's req/s ÷ the same route on a bare pg.Pool. */
  pgEntryVsRawPg: number
  /** Median over rounds of the static-password server ÷ its twin: 1, give or take the machine. */
  staticAa: number
  twinOkPerS: number
  brokerOkPerS: number
  staticOkPerS: number
  bareStackOkPerS: number
  entryPostgresOkPerS: number
  entryPgOkPerS: number
  rawPgOkPerS: number
  rawQueriesPerS: number
  /** The broker variant's p99, the median over rounds of each round's worst slice's p99. */
  brokerP99Ms: number
  failed: number
  /**
   * Median CPU µs each server spent per answered request (user + system, from procfs): the cost
   * of a request where req/s also carries the load generator's and Postgres's share of two cores.
   */
  cpuUsPerRequest: Partial<Record<HttpVariant, number>>
  /** Every run's req/s and CPU µs per request, per variant, in round order. */
  runs: Record<HttpVariant, { okPerS: number; cpuUs: number | undefined }[]>
  /** Each round's ratios, for the spread; `cpu…` are the CPU costs, the baseline's ÷ the functions'. */
  perRound: {
    vsStatic: number[]
    vsRaw: number[]
    vsBareStack: number[]
    pgVsPostgres: number[]
    pgEntryVsRawPg: number[]
    staticAa: number[]
    cpuVsStatic: number[]
    cpuVsBareStack: number[]
  }
}

/**
 * The query behind the route, as fast as postgres.js can run it: one loop per client, each sending
 * its next query when the last one returned — the closed loop autocannon applies over HTTP.
 */
async function rawPointSelects(sql: postgres.Sql, durationS: number, loops: number) {
  const started = performance.now()
  const stopAt = started + durationS * 1000
  let done = 0
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < stopAt) {
        await sql.unsafe(POINT_SELECT_SQL, [BENCH_USER], { prepare: true })
        done += 1
      }
    }),
  )
  return { done, seconds: (performance.now() - started) / 1000 }
}

/**
 * `GET /api/preferences` through the functions with broker credentials, the same functions with a
 * static password (and that server again as another process, the A/A control), the route by hand
 * on Hono + postgres.js (the stack's own limit), the raw query as the ceiling, and the route by
 * hand on each of the package's driver entries and on a bare `pg.Pool`, in {@link SLICES_PER_ROUND} slices a round taking
 * turns in alternating order (broker, static, twin, bare stack, raw, createSql, createPool, then
 * back), each server's CPU time read around each of its slices.
 */
async function measureFunctionsThroughput(
  options: FunctionsThroughputOptions,
): Promise<FunctionsThroughput> {
  const functions = (url: string, durationS: number, pid?: number) =>
    withCpu(pid, () =>
      load({
        url: `${url}/api/preferences`,
        connections: FUNCTIONS_CONNECTIONS,
        durationS,
        headers: { 'x-forwarded-email': BENCH_USER },
      }),
    )
  const pids = options.pids ?? {}
  const urls = [
    options.brokerUrl,
    options.staticUrl,
    options.twinUrl,
    options.bareStackUrl,
    options.entryPostgresUrl,
    options.entryPgUrl,
    options.rawPgUrl,
  ]
  for (const url of urls) await functions(url, WARMUP_S)
  await rawPointSelects(options.raw, WARMUP_S, FUNCTIONS_CONNECTIONS)
  const sliceS = options.durationS / SLICES_PER_ROUND
  // autocannon stops on its once-a-second tick: a 1.5 s run lasts 2 s.
  if (!Number.isInteger(sliceS)) {
    throw new RangeError(`a run of ${options.durationS} s does not split into whole-second slices`)
  }
  const sliced = await runInterleaved(
    {
      broker: () => functions(options.brokerUrl, sliceS, pids.broker),
      static: () => functions(options.staticUrl, sliceS, pids.static),
      twin: () => functions(options.twinUrl, sliceS, pids.twin),
      bareStack: () => functions(options.bareStackUrl, sliceS, pids.bareStack),
      raw: () => rawPointSelects(options.raw, sliceS, FUNCTIONS_CONNECTIONS),
      entryPostgres: () => functions(options.entryPostgresUrl, sliceS, pids.entryPostgres),
      entryPg: () => functions(options.entryPgUrl, sliceS, pids.entryPg),
      rawPg: () => functions(options.rawPgUrl, sliceS, pids.rawPg),
    },
    options.rounds * SLICES_PER_ROUND,
    { alternate: true },
  )
  const results = {
    broker: rounds(sliced.broker),
    static: rounds(sliced.static),
    twin: rounds(sliced.twin),
    bareStack: rounds(sliced.bareStack),
    raw: groups(sliced.raw).map(
      (slices) => sum(slices.map((r) => r.done)) / sum(slices.map((r) => r.seconds)),
    ),
    entryPostgres: rounds(sliced.entryPostgres),
    entryPg: rounds(sliced.entryPg),
    rawPg: rounds(sliced.rawPg),
  }
  const rates = (runs: { okPerS: number }[]) => runs.map((r) => r.okPerS)
  const brokerRates = rates(results.broker)
  const divided = (numerator: number[], baseline: number[]) =>
    numerator.map((rate, i) => rate / (baseline[i] as number))
  const cpuPerRequest = (runs: { ok: number; cpuS: number | undefined }[]) =>
    runs.flatMap((r) => (r.cpuS === undefined || r.ok === 0 ? [] : [(r.cpuS / r.ok) * 1e6]))
  const cpu = {
    broker: cpuPerRequest(results.broker),
    static: cpuPerRequest(results.static),
    twin: cpuPerRequest(results.twin),
    bareStack: cpuPerRequest(results.bareStack),
    entryPostgres: cpuPerRequest(results.entryPostgres),
    entryPg: cpuPerRequest(results.entryPg),
    rawPg: cpuPerRequest(results.rawPg),
  }
  const perRound = {
    vsStatic: divided(brokerRates, rates(results.static)),
    vsRaw: divided(brokerRates, results.raw),
    vsBareStack: divided(brokerRates, rates(results.bareStack)),
    pgVsPostgres: divided(rates(results.entryPg), rates(results.entryPostgres)),
    pgEntryVsRawPg: divided(rates(results.entryPg), rates(results.rawPg)),
    staticAa: divided(rates(results.static), rates(results.twin)),
    // A cost ratio the other way up, so that 1 is level and higher is better, as for req/s.
    cpuVsStatic: cpu.broker.length === cpu.static.length ? divided(cpu.static, cpu.broker) : [],
    cpuVsBareStack:
      cpu.broker.length === cpu.bareStack.length ? divided(cpu.bareStack, cpu.broker) : [],
  }
  const medianOf = (values: number[]) => (values.length === 0 ? undefined : median(values))
  const cpuUsPerRequest = Object.fromEntries(
    Object.entries(cpu).flatMap(([variant, values]) => {
      const value = medianOf(values)
      return value === undefined ? [] : [[variant, value]]
    }),
  ) as Partial<Record<HttpVariant, number>>
  const http = [
    ...results.broker,
    ...results.static,
    ...results.twin,
    ...results.bareStack,
    ...results.entryPostgres,
    ...results.entryPg,
    ...results.rawPg,
  ]
  return {
    vsStatic: median(perRound.vsStatic),
    vsRaw: median(perRound.vsRaw),
    vsBareStack: median(perRound.vsBareStack),
    pgVsPostgres: median(perRound.pgVsPostgres),
    pgEntryVsRawPg: median(perRound.pgEntryVsRawPg),
    staticAa: median(perRound.staticAa),
    twinOkPerS: median(rates(results.twin)),
    brokerOkPerS: median(brokerRates),
    staticOkPerS: median(rates(results.static)),
    bareStackOkPerS: median(rates(results.bareStack)),
    entryPostgresOkPerS: median(rates(results.entryPostgres)),
    entryPgOkPerS: median(rates(results.entryPg)),
    rawPgOkPerS: median(rates(results.rawPg)),
    rawQueriesPerS: median(results.raw),
    brokerP99Ms: median(results.broker.map((r) => r.p99Ms)),
    failed: http.reduce((n, r) => n + r.non2xx + r.errors, 0),
    cpuUsPerRequest,
    runs: {
      broker: runsOf(results.broker),
      static: runsOf(results.static),
      twin: runsOf(results.twin),
      bareStack: runsOf(results.bareStack),
      entryPostgres: runsOf(results.entryPostgres),
      entryPg: runsOf(results.entryPg),
      rawPg: runsOf(results.rawPg),
    },
    perRound,
  }
}

function runsOf(runs: { okPerS: number; ok: number; cpuS: number | undefined }[]) {
  return runs.map((r) => ({
    okPerS: Math.round(r.okPerS),
    cpuUs: r.cpuS === undefined || r.ok === 0 ? undefined : Math.round((r.cpuS / r.ok) * 1e6),
  }))
}

type Slice = LoadResult & { cpuS: number | undefined }

/** Consecutive slices, {@link SLICES_PER_ROUND} at a time: one group per round. */
function groups<T>(slices: T[]): T[][] {
  const grouped: T[][] = []
  for (let i = 0; i < slices.length; i += SLICES_PER_ROUND) {
    grouped.push(slices.slice(i, i + SLICES_PER_ROUND))
  }
  return grouped
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0)
}

/** Each round's slices as one run: requests and seconds and CPU added up. */
function rounds(slices: Slice[]): Slice[] {
  return groups(slices).map((group) => {
    const ok = sum(group.map((r) => r.ok))
    const durationS = sum(group.map((r) => r.durationS))
    const cpu = group.map((r) => r.cpuS)
    return {
      ...(group[0] as Slice),
      ok,
      durationS,
      okPerS: ok / durationS,
      // autocannon gives percentiles, not its histogram: a round's are its worst slice's.
      p50Ms: Math.max(...group.map((r) => r.p50Ms)),
      p99Ms: Math.max(...group.map((r) => r.p99Ms)),
      non2xx: sum(group.map((r) => r.non2xx)),
      errors: sum(group.map((r) => r.errors)),
      cpuS: cpu.some((c) => c === undefined) ? undefined : sum(cpu as number[]),
      responses: [],
    }
  })
}

/** The functions figure: its variants started on the steady broker's login, measured, stopped. */
export async function runFunctionsThroughput({
  plan,
  progress,
  stack,
}: StackFigureContext): Promise<FunctionsThroughput> {
  progress(
    `functions (broker, static password twice), the route by hand (bare stack, createSql, createPool), raw postgres.js: ${plan.functionsRounds} interleaved rounds of ${plan.functionsRunS} s, in ${round(plan.functionsRunS / SLICES_PER_ROUND, 2)} s slices`,
  )
  const { stop, ...variants } = await startFunctionsVariants(stack)
  const figure = await measureFunctionsThroughput({
    ...variants,
    rounds: plan.functionsRounds,
    durationS: plan.functionsRunS,
  })
  await stop()
  progress(
    `  ${round(figure.brokerOkPerS, 0)} req/s (static ${round(figure.staticOkPerS, 0)}, bare stack ${round(figure.bareStackOkPerS, 0)}, raw ${round(figure.rawQueriesPerS, 0)} q/s; createPool ${round(figure.entryPgOkPerS, 0)} vs createSql ${round(figure.entryPostgresOkPerS, 0)}, bare pg.Pool ${round(figure.rawPgOkPerS, 0)})`,
  )
  progress(
    `  CPU µs per request: ${Object.entries(figure.cpuUsPerRequest)
      .map(([variant, us]) => `${variant} ${round(us, 0)}`)
      .join(', ')}`,
  )
  return figure
}

/** The functions' six ratios, each with the req/s (or q/s) behind it. */
export function functionsThroughputReport(functions: FunctionsThroughput): FigureReport {
  const perS = (value: number) => round(value, 0)
  const { perRound } = functions
  return {
    values: {
      functions_vs_static: functions.vsStatic,
      functions_vs_bare_stack: functions.vsBareStack,
      functions_vs_raw_pg: functions.vsRaw,
      functions_pg_vs_postgres: functions.pgVsPostgres,
      pg_entry_vs_raw_pg: functions.pgEntryVsRawPg,
      functions_static_aa: functions.staticAa,
    },
    rounds: {
      functions_vs_static: perRound.vsStatic,
      functions_vs_bare_stack: perRound.vsBareStack,
      functions_vs_raw_pg: perRound.vsRaw,
      functions_pg_vs_postgres: perRound.pgVsPostgres,
      pg_entry_vs_raw_pg: perRound.pgEntryVsRawPg,
      functions_static_aa: perRound.staticAa,
    },
    notes: {
      functions_vs_static: `${perS(functions.brokerOkPerS)} vs ${perS(functions.staticOkPerS)} req/s`,
      functions_vs_bare_stack: `${perS(functions.bareStackOkPerS)} req/s by hand`,
      functions_vs_raw_pg: `${perS(functions.rawQueriesPerS)} q/s`,
      functions_pg_vs_postgres: `${perS(functions.entryPgOkPerS)} vs ${perS(functions.entryPostgresOkPerS)} req/s`,
      pg_entry_vs_raw_pg: `${perS(functions.entryPgOkPerS)} vs ${perS(functions.rawPgOkPerS)} req/s`,
      functions_static_aa: `${perS(functions.staticOkPerS)} vs ${perS(functions.twinOkPerS)} req/s: what the machine alone spreads`,
    },
    details: { functions },
  }
}
