import type { UpstreamError } from '../shared/databricks/upstream-error.js'

/** First retry after a transient failure: quick, since most upstream blips are short. */
export const RETRY_BASE_MS = 1_000
/** Retries back off to at most 30 s, so recovery is noticed well within a 1-hour token's life. */
export const RETRY_MAX_MS = 30_000
/** Permanent failures (401/403/404/400) are retried slowly: a person must usually act first. */
export const PERMANENT_RETRY_MS = 60_000

/**
 * How long to wait before the next background attempt after `failures` consecutive failures
 * (1 for the first), with jitter drawn from `random` in [0, 1): "equal jitter", half fixed and
 * half random, so retries spread out but never collapse to zero. An upstream `Retry-After` is a
 * floor.
 */
export function retryDelayMs(failures: number, error: UpstreamError, random: number): number {
  if (error.kind === 'permanent') return PERMANENT_RETRY_MS
  const exponential = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, failures - 1))
  const jittered = exponential / 2 + (exponential / 2) * random
  return Math.max(jittered, error.retryAfterMs ?? 0)
}
