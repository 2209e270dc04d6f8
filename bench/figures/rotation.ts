import { BENCH_USER } from '../database.js'
import { runInterleaved } from '../interleave.js'
import { load } from '../load.js'
import type { AlternativeFigures, FigureReport, TableRow } from '../report.js'
import {
  QUIET_MS,
  rotationInstants,
  rotationLatency,
  splitByRotation,
} from '../rotation-analysis.js'
import { ROTATION_LIFETIME_S } from '../stack.js'
import { percentile, round } from '../stats.js'
import type { BenchWorkspace } from '../workspace.js'
import type { StackFigureContext } from './context.js'
import { type LogWarnings, startRotationDesigns } from './rotation-designs.js'

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
async function measureRotation<L extends string>(
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

/** The rotation figure's designs measured, and what their servers logged meanwhile. */
export interface RotationRun {
  figures: Record<string, RotationFigure>
  /** Why `@databricks/lakebase` was not measured, when it was not. */
  sdkError?: string
  logWarnings: Record<string, LogWarnings>
}

/** The rotation figure: every design started on the rotation workspace, then measured. */
export async function runRotation({
  plan,
  progress,
  stack,
}: StackFigureContext): Promise<RotationRun> {
  progress(`rotation: ${ROTATION_LIFETIME_S}-second tokens, every design interleaved`)
  const started = await startRotationDesigns(stack)
  const figures = await measureRotation(
    started.designs,
    stack.rotationWorkspace,
    plan.rotationRounds,
    plan.rotationRunS,
  )
  const ours = figures.broker as RotationFigure
  const dropped = figures.brokerDropped as RotationFigure
  progress(
    `  broker: ratio ${round(ours.p99Ratio)}, ${ours.failedRequests} failed; dropped connections: ratio ${round(dropped.p99Ratio)}, ${dropped.failedRequests} failed`,
  )
  return { figures, sdkError: started.sdkError, logWarnings: started.logWarnings() }
}

/** The broker's rotation keys, and a row after them for each other design. */
export function rotationReport({ figures, sdkError, logWarnings }: RotationRun): FigureReport {
  const ours = figures.broker as RotationFigure
  return {
    values: {
      rotation_failed_requests: ours.failedRequests,
      rotation_p99_ratio: ours.p99Ratio,
    },
    rounds: { rotation_p99_ratio: ours.perRoundRatios },
    notes: {
      rotation_failed_requests: `${ours.requests} requests, ${ours.rotations} rotations, ${ROTATION_LIFETIME_S} s tokens`,
      rotation_p99_ratio: `${round(ours.aroundP99Ms)} vs ${round(ours.steadyP99Ms)} ms`,
    },
    rowsAfter: {
      rotation_p99_ratio: [
        rotationRow('  same, every connection dropped at each rotation', figures.brokerDropped),
        rotationRow(
          '  alternative: fresh token per connection (original app)',
          figures.perConnection,
        ),
        figures.lakebaseSdk
          ? rotationRow(
              '  alternative: @databricks/lakebase (lazy, in connect)',
              figures.lakebaseSdk,
            )
          : {
              figure: '  alternative: @databricks/lakebase',
              result: `error: ${sdkError}`,
              goal: 'reported',
              status: '',
            },
      ],
    },
    details: { rotation: figures, rotation_log_warnings: logWarnings },
  }
}

/** The JSON's other designs under rotation: "not measured" throughout when the figure was not. */
export function rotationAlternatives(run: RotationRun | undefined): {
  rotationDroppedConnections: AlternativeFigures
  alternatives: Record<string, AlternativeFigures>
} {
  return {
    rotationDroppedConnections: alternative(run?.figures.brokerDropped),
    alternatives: {
      per_connection_credential: alternative(run?.figures.perConnection),
      databricks_lakebase: alternative(run?.figures.lakebaseSdk, run?.sdkError),
    },
  }
}

function alternative(figure: RotationFigure | undefined, error?: string): AlternativeFigures {
  return figure
    ? {
        rotation_p99_ratio: round(figure.p99Ratio, 3),
        upstream_calls: figure.upstreamCalls,
        failed_requests: figure.failedRequests,
        rotations: figure.rotations,
      }
    : { error: error ?? 'not measured' }
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
