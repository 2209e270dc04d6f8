/**
 * Why a fetch failed, as metrics and the status page name it. Kept small and closed so that
 * dashboards can rely on the label values.
 */
export const ERROR_CLASSES = [
  'upstream_5xx',
  'rate_limited',
  'timeout',
  'network',
  'unauthorized',
  'forbidden',
  'not_found',
  'bad_request',
  'not_available',
  'malformed_response',
  'command_failed',
  'config',
] as const
export type ErrorClass = (typeof ERROR_CLASSES)[number]

/** Transient failures are retried with backoff; permanent ones are surfaced at once. */
export type FailureKind = 'transient' | 'permanent'

export interface UpstreamErrorOptions {
  upstreamStatus?: number
  upstreamErrorCode?: string
  /** From an upstream `Retry-After`, in milliseconds. */
  retryAfterMs?: number
  /**
   * What a person can do, when the failure knows better than its class (e.g. a database that is
   * STOPPED must be started): replaces the broker's suggestion for the class. Never a secret.
   */
  suggestion?: string
  cause?: unknown
}

/**
 * A failed call to something upstream of us: a credential provider's fetch (the workspace, a
 * credential command, the embedded Postgres) or any other workspace call, model serving included.
 * Named for what failed, not for who asked. The message is shown to clients and logged, so it
 * never contains a token, password or secret — only statuses, codes and names.
 */
export class UpstreamError extends Error {
  readonly upstreamStatus: number | undefined
  readonly upstreamErrorCode: string | undefined
  readonly retryAfterMs: number | undefined
  readonly suggestion: string | undefined

  constructor(
    readonly errorClass: ErrorClass,
    message: string,
    options: UpstreamErrorOptions = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'UpstreamError'
    this.upstreamStatus = options.upstreamStatus
    this.upstreamErrorCode = options.upstreamErrorCode
    this.retryAfterMs = options.retryAfterMs
    this.suggestion = options.suggestion
  }

  get kind(): FailureKind {
    return PERMANENT_CLASSES.has(this.errorClass) ? 'permanent' : 'transient'
  }
}

const PERMANENT_CLASSES: ReadonlySet<ErrorClass> = new Set([
  'unauthorized',
  'forbidden',
  'not_found',
  'bad_request',
  'config',
])

/** Any thrown value as a UpstreamError; unknown errors are treated as transient network faults. */
export function toUpstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new UpstreamError('timeout', 'the upstream call timed out', { cause: err })
  }
  return new UpstreamError('network', 'the upstream call failed before an answer', { cause: err })
}

/**
 * Maps an HTTP failure status to its class, as the Databricks SDKs do: 429 and 5xx are
 * transient, the other 4xx are not.
 */
export function classifyStatus(status: number): ErrorClass {
  if (status === 429) return 'rate_limited'
  if (status >= 500) return 'upstream_5xx'
  if (status === 401) return 'unauthorized'
  if (status === 403) return 'forbidden'
  if (status === 404) return 'not_found'
  return 'bad_request'
}
