import { BENCH_USER } from '../database.js'
import { runInterleaved } from '../interleave.js'
import { load } from '../load.js'
import {
  QUIET_MS,
  rotationInstants,
  rotationLatency,
  splitByRotation,
} from '../rotation-analysis.js'
import { percentile } from '../stats.js'
import type { BenchWorkspace } from '../workspace.js'

/**
 * Clients during rotation runs: as many as the suite's rotation test uses, and fewer than the
 * pools' 10 connections, so that latency is a request's own (its login, its credential call)
 * rather than a wait behind other requests for a connection.
 */
export const ROTATION_CONNECTIONS = 8
/** A short unrecorded run first: pools connected, code optimised. */
const WARMUP_S = 1

/** One way of getting credentials to Postgres, serving `GET /api/preferences`. */
export interface RotationDesign {
  url: string
  /** Its Postgres role: whose token mints are its rotations. */
  role: string
  /** Runs alongside each measured run (e.g. dropping connections at each rotation). */
  around?: () => { stop(): void }
}

export interface RotationFigure {
  /**
   * p99 of the requests sent in the second around a rotation ÷ p99 of those sent far from every
   * rotation, over all rounds (a single round sees too few rotations for a stable p99).
   */
  p99Ratio: number
  failedRequests: number
  /** Credential calls the workspace received for this design during its measured runs. */
  upstreamCalls: number
  rotations: number
  requests: number
  aroundP99Ms: number
  steadyP99Ms: number
  /** The same ratio for each round alone, where it had a rotation. */
  perRoundRatios: number[]
}

/**
 * Each design under the same closed-loop load, interleaved (A B C A B C …), while its credential
 * rotates; requests are split by their distance to the rotations (the workspace's mints for the
 * design's role) and the p99s compared.
 */
export async function measureRotation<L extends string>(
  designs: Record<L, RotationDesign>,
  workspace: BenchWorkspace,
  rounds: number,
  durationS: number,
): Promise<Record<L, RotationFigure>> {
  const run = async (design: RotationDesign) => {
    const request = (seconds: number, recordResponses: boolean) =>
      load({
        url: `${design.url}/api/preferences`,
        connections: ROTATION_CONNECTIONS,
        durationS: seconds,
        headers: { 'x-forwarded-email': BENCH_USER },
        recordResponses,
      })
    await request(WARMUP_S, false)
    const side = design.around?.()
    const startedAt = Date.now()
    const result = await request(durationS, true).finally(() => side?.stop())
    const endedAt = Date.now()
    const mints = workspace.mints.filter((m) => m.user === design.role).map((m) => m.at)
    const rotations = rotationInstants(
      mints.filter((at) => at >= startedAt - QUIET_MS && at <= endedAt),
    ).filter((at) => at >= startedAt)
    return {
      latency: rotationLatency(result.responses, rotations),
      split: splitByRotation(result.responses, rotations),
      failed: result.non2xx + result.errors,
      upstreamCalls: mints.filter((at) => at >= startedAt && at <= endedAt).length,
      rotations: rotations.length,
      requests: result.responses.length + result.errors,
    }
  }
  const labels = Object.keys(designs) as L[]
  const variants = Object.fromEntries(labels.map((label) => [label, () => run(designs[label])]))
  const runs = (await runInterleaved(variants, rounds)) as Record<
    string,
    Awaited<ReturnType<typeof run>>[]
  >
  return Object.fromEntries(
    labels.map((label) => {
      const results = runs[label] ?? []
      const sum = (pick: (r: (typeof results)[number]) => number) =>
        results.reduce((n, r) => n + pick(r), 0)
      const aroundP99Ms = percentile(
        results.flatMap((r) => r.split.around),
        99,
      )
      const steadyP99Ms = percentile(
        results.flatMap((r) => r.split.steady),
        99,
      )
      return [
        label,
        {
          p99Ratio: aroundP99Ms / steadyP99Ms,
          failedRequests: sum((r) => r.failed),
          upstreamCalls: sum((r) => r.upstreamCalls),
          rotations: sum((r) => r.rotations),
          requests: sum((r) => r.requests),
          aroundP99Ms,
          steadyP99Ms,
          perRoundRatios: results.map((r) => r.latency.ratio).filter((r) => Number.isFinite(r)),
        },
      ]
    }),
  ) as Record<L, RotationFigure>
}
