import type { ResponseSample } from './load.js'
import { percentile } from './stats.js'

/** "The second around a rotation": requests sent within half a second either side of it. */
export const AROUND_MS = 500
/** Steady requests are those sent farther than this from every rotation. */
export const QUIET_MS = 1_500
/** Tokens minted within this long of the previous one belong to the same rotation. */
export const SAME_ROTATION_MS = 1_000

/** The moments of rotation: the first mint of each burst of mints (sorted epoch ms). */
export function rotationInstants(mintTimes: readonly number[]): number[] {
  const sorted = [...mintTimes].sort((a, b) => a - b)
  const instants: number[] = []
  let previous = Number.NEGATIVE_INFINITY
  for (const at of sorted) {
    if (at - previous > SAME_ROTATION_MS) instants.push(at)
    previous = at
  }
  return instants
}

export interface RotationLatency {
  /** p99 of requests sent in the second around a rotation. */
  aroundP99Ms: number
  /** p99 of requests sent far from every rotation. */
  steadyP99Ms: number
  ratio: number
  aroundCount: number
  steadyCount: number
}

/** Latencies of the requests sent around a rotation, and of those sent far from every one. */
export function splitByRotation(
  samples: readonly ResponseSample[],
  rotations: readonly number[],
): { around: number[]; steady: number[] } {
  const around: number[] = []
  const steady: number[] = []
  for (const sample of samples) {
    let nearest = Number.POSITIVE_INFINITY
    for (const at of rotations) nearest = Math.min(nearest, Math.abs(sample.sentAt - at))
    if (nearest <= AROUND_MS) around.push(sample.latencyMs)
    else if (nearest > QUIET_MS) steady.push(sample.latencyMs)
  }
  return { around, steady }
}

/** Compares the p99 of the requests around rotations with the p99 of the steady ones. */
export function rotationLatency(
  samples: readonly ResponseSample[],
  rotations: readonly number[],
): RotationLatency {
  const { around, steady } = splitByRotation(samples, rotations)
  const aroundP99Ms = percentile(around, 99)
  const steadyP99Ms = percentile(steady, 99)
  return {
    aroundP99Ms,
    steadyP99Ms,
    ratio: aroundP99Ms / steadyP99Ms,
    aroundCount: around.length,
    steadyCount: steady.length,
  }
}
