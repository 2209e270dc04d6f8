import type postgres from 'postgres'
import { BENCH_USER, POINT_SELECT_SQL } from '../database.js'
import { runInterleaved } from '../interleave.js'
import { load } from '../load.js'
import { median } from '../stats.js'

/** The same 64 clients as against the broker. */
export const FUNCTIONS_CONNECTIONS = 64
/** A short unrecorded run first, so that every variant is measured warm (JIT, pool connected). */
const WARMUP_S = 1

export interface FunctionsThroughputOptions {
  /** The functions with broker credentials (functions/main.js). */
  brokerUrl: string
  /** The same functions with a fixed password. */
  staticUrl: string
  /** postgres.js on the same database, login and pool size as the functions. */
  raw: postgres.Sql
  rounds: number
  durationS: number
}

export interface FunctionsThroughput {
  /** Median over rounds of functions-with-broker req/s ÷ functions-with-static-password req/s. */
  vsStatic: number
  /** Median over rounds of functions-with-broker req/s ÷ raw point selects/s. */
  vsRaw: number
  brokerOkPerS: number
  staticOkPerS: number
  rawQueriesPerS: number
  brokerP99Ms: number
  failed: number
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
  return done / ((performance.now() - started) / 1000)
}

/**
 * `GET /api/preferences` through the functions with broker credentials, the same functions with a
 * static password, and the raw query as the ceiling, interleaved (broker, static, raw, …).
 */
export async function measureFunctionsThroughput(
  options: FunctionsThroughputOptions,
): Promise<FunctionsThroughput> {
  const functions = (url: string, durationS: number) =>
    load({
      url: `${url}/api/preferences`,
      connections: FUNCTIONS_CONNECTIONS,
      durationS,
      headers: { 'x-forwarded-email': BENCH_USER },
    })
  await functions(options.brokerUrl, WARMUP_S)
  await functions(options.staticUrl, WARMUP_S)
  await rawPointSelects(options.raw, WARMUP_S, FUNCTIONS_CONNECTIONS)
  const results = await runInterleaved(
    {
      broker: () => functions(options.brokerUrl, options.durationS),
      static: () => functions(options.staticUrl, options.durationS),
      raw: () => rawPointSelects(options.raw, options.durationS, FUNCTIONS_CONNECTIONS),
    },
    options.rounds,
  )
  const brokerRates = results.broker.map((r) => r.okPerS)
  const ratios = (baseline: number[]) =>
    brokerRates.map((rate, i) => rate / (baseline[i] as number))
  return {
    vsStatic: median(ratios(results.static.map((r) => r.okPerS))),
    vsRaw: median(ratios(results.raw)),
    brokerOkPerS: median(brokerRates),
    staticOkPerS: median(results.static.map((r) => r.okPerS)),
    rawQueriesPerS: median(results.raw),
    brokerP99Ms: median(results.broker.map((r) => r.p99Ms)),
    failed: [...results.broker, ...results.static].reduce((n, r) => n + r.non2xx + r.errors, 0),
  }
}
