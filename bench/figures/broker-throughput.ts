import { freePort } from '../../test/support/free-port.js'
import { spawnNode } from '../child-process.js'
import { runInterleaved } from '../interleave.js'
import { type LoadResult, load } from '../load.js'
import { peakResidentMb, residentMemoryMb } from '../memory.js'
import type { FigureReport } from '../report.js'
import { listeningUrl } from '../server-probes.js'
import { CLIENT_TOKEN } from '../stack.js'
import { median, round } from '../stats.js'
import type { ColdBurst } from './cold-burst.js'
import type { StackFigureContext } from './context.js'

/** The load: 64 keep-alive clients. */
export const BROKER_CONNECTIONS = 64
/** A short unrecorded run first, so that both servers are measured with optimised code. */
const WARMUP_S = 1

interface BrokerThroughputOptions {
  /** The broker's `GET /v1/credentials` and its client token. */
  brokerUrl: string
  token: string
  brokerPid: number
  /** The bare Hono server's constant-JSON route. */
  bareUrl: string
  /** The bare Hono server's process, whose memory under the same load is the stack's floor. */
  barePid: number
  /** Node's own HTTP server answering the same bytes: the runtime's floor under that load. */
  nodeUrl: string
  nodePid: number
  rounds: number
  durationS: number
}

export interface BrokerThroughput {
  /** Median over rounds of broker req/s ÷ bare req/s, each pair run back to back. */
  ratio: number
  brokerOkPerS: number
  bareOkPerS: number
  brokerP99Ms: number
  bareP99Ms: number
  brokerP50Ms: number
  /** Median over rounds of broker p99 ÷ bare p99, each pair run back to back. */
  p99Ratio: number
  failed: number
  /** The broker process's peak resident set during the runs (and its private part). */
  brokerPeakRssMb: number
  brokerPeakAnonMb: number | undefined
  /** Its resident set before the load, once started and holding a credential. */
  brokerIdleRssMb: number
  /** The bare Hono server (node, @hono/node-server, one route) under the same load. */
  barePeakRssMb: number
  bareIdleRssMb: number
  /** `node:http` alone, one run of the same load after the rounds. */
  nodePeakRssMb: number
  nodeIdleRssMb: number
  nodeOkPerS: number
  perRound: { broker: number; bare: number; brokerP99Ms: number; bareP99Ms: number }[]
  /** Each round's throughput ratio and p99 ratio, for the spread. */
  ratios: number[]
  p99Ratios: number[]
}

/**
 * Cache hits against the broker and a bare Hono route on the same server stack, interleaved
 * (broker, bare, broker, bare, …), 64 connections each, closed loop. The p99s are compared pair
 * by pair, at the same load: on two shared cores a closed loop's latency is mostly throughput
 * (Little's law), so the broker's own p99 says little alone.
 */
async function measureBrokerThroughput(
  options: BrokerThroughputOptions,
): Promise<BrokerThroughput> {
  const broker = (durationS: number) =>
    load({
      url: `${options.brokerUrl}/v1/credentials`,
      connections: BROKER_CONNECTIONS,
      durationS,
      headers: { authorization: `Bearer ${options.token}` },
    })
  const bare = (durationS: number) =>
    load({ url: `${options.bareUrl}/v1/credentials`, connections: BROKER_CONNECTIONS, durationS })

  const idle = await residentMemoryMb(options.brokerPid)
  const bareIdle = await residentMemoryMb(options.barePid)
  const {
    result: { result, peakMb: barePeakMb },
    peakMb,
    peakAnonMb,
  } = await peakResidentMb(options.brokerPid, () =>
    peakResidentMb(options.barePid, async () => {
      await broker(WARMUP_S)
      await bare(WARMUP_S)
      return runInterleaved(
        { broker: () => broker(options.durationS), bare: () => bare(options.durationS) },
        options.rounds,
      )
    }),
  )
  const nodeIdle = await residentMemoryMb(options.nodePid)
  const { result: nodeRun, peakMb: nodePeakMb } = await peakResidentMb(
    options.nodePid,
    async () => {
      const node = (durationS: number) =>
        load({
          url: `${options.nodeUrl}/v1/credentials`,
          connections: BROKER_CONNECTIONS,
          durationS,
        })
      await node(WARMUP_S)
      return node(options.durationS)
    },
  )
  const pairs = result.broker.map((b, i) => {
    const bareRun = result.bare[i] as LoadResult
    return {
      broker: b.okPerS,
      bare: bareRun.okPerS,
      brokerP99Ms: b.p99Ms,
      bareP99Ms: bareRun.p99Ms,
    }
  })
  const ratios = pairs.map((p) => p.broker / p.bare)
  // A p99 of 0 (all under autocannon's resolution) makes no ratio; the spread skips it.
  const p99Ratios = pairs.map((p) => (p.bareP99Ms > 0 ? p.brokerP99Ms / p.bareP99Ms : Number.NaN))
  return {
    ratio: median(ratios),
    p99Ratio: median(p99Ratios.filter((r) => Number.isFinite(r))),
    ratios,
    p99Ratios,
    brokerOkPerS: median(pairs.map((p) => p.broker)),
    bareOkPerS: median(pairs.map((p) => p.bare)),
    brokerP99Ms: median(result.broker.map((r) => r.p99Ms)),
    bareP99Ms: median(result.bare.map((r) => r.p99Ms)),
    brokerP50Ms: median(result.broker.map((r) => r.p50Ms)),
    failed: result.broker.reduce((n, r) => n + r.non2xx + r.errors, 0),
    brokerPeakRssMb: peakMb,
    brokerPeakAnonMb: peakAnonMb,
    brokerIdleRssMb: idle.rss,
    barePeakRssMb: barePeakMb,
    bareIdleRssMb: bareIdle.rss,
    nodePeakRssMb: nodePeakMb,
    nodeIdleRssMb: nodeIdle.rss,
    nodeOkPerS: nodeRun.okPerS,
    perRound: pairs,
  }
}

/**
 * The broker figure: a bare Hono server and `node:http` alone, both answering the steady broker's
 * credential body, beside the steady broker.
 */
export async function runBrokerThroughput({
  plan,
  progress,
  stack,
}: StackFigureContext): Promise<BrokerThroughput> {
  const { entries, started } = stack
  const body = stack.broker.served
  const bare = started(
    'bare-hono',
    spawnNode(entries.bareHono, { PORT: String(await freePort()), BENCH_BODY: body }),
  )
  const bareUrl = await listeningUrl(bare)
  const nodeServer = started(
    'bare-node',
    spawnNode(entries.bareNode, { PORT: String(await freePort()), BENCH_BODY: body }),
  )
  const nodeUrl = await listeningUrl(nodeServer)
  progress(
    `broker cache hits vs bare Hono: ${plan.brokerRounds} interleaved rounds of ${plan.brokerRunS} s, ${BROKER_CONNECTIONS} connections`,
  )
  const figure = await measureBrokerThroughput({
    brokerUrl: stack.broker.url,
    token: CLIENT_TOKEN,
    brokerPid: stack.broker.pid,
    bareUrl,
    barePid: bare.pid,
    nodeUrl,
    nodePid: nodeServer.pid,
    rounds: plan.brokerRounds,
    durationS: plan.brokerRunS,
  })
  await Promise.all([bare.stop(), nodeServer.stop()])
  progress(
    `  ${round(figure.brokerOkPerS, 0)} vs ${round(figure.bareOkPerS, 0)} req/s, p99 ${figure.brokerP99Ms} vs ${figure.bareP99Ms} ms`,
  )
  return figure
}

/**
 * The broker's throughput, p99 and memory keys; the memory note adds the cold burst's peak when
 * that figure ran too.
 */
export function brokerThroughputReport(broker: BrokerThroughput, cold?: ColdBurst): FigureReport {
  const throughCold = cold ? `; ${round(cold.brokerPeakRssMb, 1)} MB through the cold burst` : ''
  return {
    values: {
      broker_vs_bare_hono: broker.ratio,
      broker_p99_ratio: broker.p99Ratio,
      broker_p99_ms: broker.brokerP99Ms,
      broker_rss_mb: broker.brokerPeakRssMb,
      broker_rss_vs_node_http: broker.brokerPeakRssMb / broker.nodePeakRssMb,
    },
    rounds: { broker_vs_bare_hono: broker.ratios, broker_p99_ratio: broker.p99Ratios },
    notes: {
      broker_vs_bare_hono: `${round(broker.brokerOkPerS, 0)} vs ${round(broker.bareOkPerS, 0)} req/s`,
      broker_p99_ratio: `${broker.brokerP99Ms} vs ${broker.bareP99Ms} ms`,
      broker_p99_ms: 'closed loop: bounded by throughput',
      broker_rss_mb: `idle ${round(broker.brokerIdleRssMb, 1)} MB; private ${round(broker.brokerPeakAnonMb ?? Number.NaN, 1)} MB${throughCold}; bare Hono ${round(broker.barePeakRssMb, 1)} MB peak, ${round(broker.bareIdleRssMb, 1)} MB idle; node:http alone ${round(broker.nodePeakRssMb, 1)} MB peak, ${round(broker.nodeIdleRssMb, 1)} idle`,
      broker_rss_vs_node_http: `${round(broker.brokerPeakRssMb, 1)} ÷ ${round(broker.nodePeakRssMb, 1)} MB peak, same load`,
    },
    details: { broker },
  }
}
