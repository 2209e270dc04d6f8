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
  /** The functions with broker credentials (cli/commands/functions.js). */
  brokerUrl: string
  /** The same functions with a fixed password. */
  staticUrl: string
  /** The route written by hand on Hono and postgres.js, with a fixed password. */
  bareStackUrl: string
  /** The route by hand on `lakebase-broker/postgres` (createSql) and on `lakebase-broker/pg`. */
  entryPostgresUrl: string
  entryPgUrl: string
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
  /** Median over rounds of functions-with-broker req/s ÷ the hand-written Hono + postgres.js route. */
  vsBareStack: number
  /** Median over rounds of the createPool route's req/s ÷ the createSql route's. */
  pgVsPostgres: number
  brokerOkPerS: number
  staticOkPerS: number
  bareStackOkPerS: number
  entryPostgresOkPerS: number
  entryPgOkPerS: number
  rawQueriesPerS: number
  brokerP99Ms: number
  failed: number
  /** Each round's ratios, for the spread. */
  perRound: { vsStatic: number[]; vsRaw: number[]; vsBareStack: number[]; pgVsPostgres: number[] }
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
 * static password, the route by hand on Hono + postgres.js (the stack's own limit), the raw query
 * as the ceiling, and the route by hand on each of the package's driver entries, interleaved
 * (broker, static, bare stack, raw, createSql, createPool, …).
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
  const urls = [
    options.brokerUrl,
    options.staticUrl,
    options.bareStackUrl,
    options.entryPostgresUrl,
    options.entryPgUrl,
  ]
  for (const url of urls) await functions(url, WARMUP_S)
  await rawPointSelects(options.raw, WARMUP_S, FUNCTIONS_CONNECTIONS)
  const results = await runInterleaved(
    {
      broker: () => functions(options.brokerUrl, options.durationS),
      static: () => functions(options.staticUrl, options.durationS),
      bareStack: () => functions(options.bareStackUrl, options.durationS),
      raw: () => rawPointSelects(options.raw, options.durationS, FUNCTIONS_CONNECTIONS),
      entryPostgres: () => functions(options.entryPostgresUrl, options.durationS),
      entryPg: () => functions(options.entryPgUrl, options.durationS),
    },
    options.rounds,
  )
  const rates = (runs: { okPerS: number }[]) => runs.map((r) => r.okPerS)
  const brokerRates = rates(results.broker)
  const divided = (numerator: number[], baseline: number[]) =>
    numerator.map((rate, i) => rate / (baseline[i] as number))
  const perRound = {
    vsStatic: divided(brokerRates, rates(results.static)),
    vsRaw: divided(brokerRates, results.raw),
    vsBareStack: divided(brokerRates, rates(results.bareStack)),
    pgVsPostgres: divided(rates(results.entryPg), rates(results.entryPostgres)),
  }
  const http = [
    ...results.broker,
    ...results.static,
    ...results.bareStack,
    ...results.entryPostgres,
    ...results.entryPg,
  ]
  return {
    vsStatic: median(perRound.vsStatic),
    vsRaw: median(perRound.vsRaw),
    vsBareStack: median(perRound.vsBareStack),
    pgVsPostgres: median(perRound.pgVsPostgres),
    brokerOkPerS: median(brokerRates),
    staticOkPerS: median(rates(results.static)),
    bareStackOkPerS: median(rates(results.bareStack)),
    entryPostgresOkPerS: median(rates(results.entryPostgres)),
    entryPgOkPerS: median(rates(results.entryPg)),
    rawQueriesPerS: median(results.raw),
    brokerP99Ms: median(results.broker.map((r) => r.p99Ms)),
    failed: http.reduce((n, r) => n + r.non2xx + r.errors, 0),
    perRound,
  }
}
