import { HttpResponse } from 'msw'
import { type MockRoute, OAUTH_ROUTES } from './routes.js'

/**
 * What one call to a route does instead of (or on top of) answering normally. Steps are queued
 * per route with `workspace.script(route, ...steps)` and used one per call, in order; once the
 * queue is empty the route answers normally again. Fields combine: `{delayMs: 50, status: 500}`
 * waits, then fails.
 */
export interface ScriptStep {
  /** Hold the answer until this settles (a deferred promise the test resolves). */
  until?: Promise<unknown>
  /** Wait this long (real time, or the workspace's `sleep`) or forever before answering. */
  delayMs?: number | 'infinite'
  /** Drop the connection: fetch rejects with a TypeError; the loopback server resets the socket. */
  networkError?: boolean
  /** Answer with this HTTP error status, in Databricks' error shape (OAuth's on OIDC routes). */
  status?: number
  /** The error's `error_code` (OAuth: `error`); defaults by status, e.g. 403 → PERMISSION_DENIED. */
  error_code?: string
  /** The error's `message` (OAuth: `error_description`). */
  message?: string
  /** `Retry-After`: seconds, or an HTTP date string. */
  retryAfter?: number | string
  /** A JSON body to answer with instead (with `status`, or 200 without). */
  body?: unknown
  /** Answer 200 with HTML instead of JSON, as a misbehaving proxy would. */
  malformed?: boolean
  /** Answer 200 with JSON cut off mid-token, as a connection closed mid-body would leave it. */
  truncatedJson?: boolean
  /** Answer as usual but without these top-level fields (e.g. `['token']`). */
  omitFields?: readonly string[]
  /** Credential routes: leave out `expiration_time` / `expire_time`. */
  omitExpiration?: boolean
  /** Credential routes: mint a token without a `sub` claim. */
  noSub?: boolean
  /** Credential routes: mint a token that expired a minute ago. */
  expired?: boolean
  /** Credential and OAuth token routes: this call's token lifetime in seconds. */
  lifetimeS?: number
}

const DATABRICKS_CODES: Record<number, string> = {
  400: 'INVALID_PARAMETER_VALUE',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'RESOURCE_DOES_NOT_EXIST',
  409: 'RESOURCE_CONFLICT',
  429: 'REQUEST_LIMIT_EXCEEDED',
  500: 'INTERNAL_ERROR',
  503: 'TEMPORARILY_UNAVAILABLE',
}

const OAUTH_CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'invalid_client',
  429: 'slow_down',
  503: 'temporarily_unavailable',
}

/** The error response a step with `status` asks for, shaped as the route's real errors are. */
export function scriptedError(route: MockRoute, step: ScriptStep & { status: number }): Response {
  const headers: Record<string, string> = {}
  if (step.retryAfter !== undefined) headers['Retry-After'] = String(step.retryAfter)
  if (step.body !== undefined)
    return HttpResponse.json(step.body as object, { status: step.status, headers })
  return OAUTH_ROUTES.has(route)
    ? oauthError(step.status, step.error_code, step.message, headers)
    : databricksError(step.status, step.error_code, step.message, headers)
}

/** `{"error_code", "message"}` with the status, as the Databricks REST API answers errors. */
export function databricksError(
  status: number,
  code = DATABRICKS_CODES[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST'),
  message = `mock workspace: HTTP ${status}`,
  headers: Record<string, string> = {},
): Response {
  return HttpResponse.json({ error_code: code, message }, { status, headers })
}

/** `{"error", "error_description"}` with the status, as the OIDC endpoints answer errors. */
export function oauthError(
  status: number,
  code = OAUTH_CODES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request'),
  description = `mock workspace: HTTP ${status}`,
  headers: Record<string, string> = {},
): Response {
  return HttpResponse.json({ error: code, error_description: description }, { status, headers })
}
