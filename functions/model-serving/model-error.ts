import { LakebaseError } from 'lakebase-broker'
import type { UpstreamError } from 'lakebase-broker/workspace'

/**
 * `retry_after` for a failed or slow endpoint when it sent no `Retry-After` of its own: an
 * overloaded endpoint or one scaling up from zero usually answers again within tens of seconds.
 */
export const MODEL_RETRY_AFTER_S = 10

/** The message a timed-out invocation is logged and answered with. */
export function timeoutMessage(endpointName: string, timeoutS: number): string {
  return `serving endpoint ${endpointName} did not answer within ${timeoutS} s`
}

/**
 * 503 MODEL_TIMEOUT for a timeout, else 503 MODEL_UNAVAILABLE (upstream 4xx/5xx, network,
 * workspace sign-in), with the upstream status and error code in `technical_details`.
 */
export function modelFailure(
  error: UpstreamError,
  options: { details?: Record<string, unknown>; message?: string } = {},
): LakebaseError {
  const timedOut = error.errorClass === 'timeout'
  const details: Record<string, unknown> = { ...options.details, error_class: error.errorClass }
  if (error.upstreamStatus !== undefined) details.upstream_status = error.upstreamStatus
  if (error.upstreamErrorCode !== undefined) details.upstream_error_code = error.upstreamErrorCode
  return new LakebaseError(
    503,
    timedOut ? 'MODEL_TIMEOUT' : 'MODEL_UNAVAILABLE',
    options.message ?? error.message,
    {
      technicalDetails: details,
      retryAfter:
        error.retryAfterMs === undefined
          ? MODEL_RETRY_AFTER_S
          : Math.max(1, Math.ceil(error.retryAfterMs / 1000)),
    },
  )
}

/** The message a call is logged and answered with when no workspace is configured. */
export const NOT_CONFIGURED_MESSAGE = 'model serving is not configured: no Databricks workspace'

/** 503 MODEL_UNAVAILABLE when the functions know no workspace, naming what to set. */
export function modelServingNotConfigured(details: Record<string, unknown> = {}): LakebaseError {
  return new LakebaseError(503, 'MODEL_UNAVAILABLE', NOT_CONFIGURED_MESSAGE, {
    technicalDetails: {
      ...details,
      error_type: 'ConfigurationError',
      suggestion:
        'set DATABRICKS_HOST to the workspace URL, with DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET (inside Databricks Apps all are set for the app), then restart the functions',
    },
  })
}
