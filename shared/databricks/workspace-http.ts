import type { z } from 'zod'
import { type Clock, systemClock } from '../client/clock.js'
import { redactSecrets } from './redact.js'
import { parseRetryAfter } from './retry-after.js'
import { classifyStatus, toUpstreamError, UpstreamError } from './upstream-error.js'

/**
 * How long one workspace call may take. The calls are small JSON exchanges that answer in well
 * under a second; ten seconds rides out a slow moment while still leaving the credential cache
 * time to retry before its credential runs out (tests use 20-second credentials; real ones live an
 * hour).
 */
export const WORKSPACE_CALL_TIMEOUT_MS = 10_000

/** Upstream error messages are cut to this many characters before they go into our message. */
const MAX_UPSTREAM_MESSAGE_CHARS = 300

/** How calls reach the workspace; every field has a production default. */
export interface WorkspaceHttpOptions {
  /** Defaults to `globalThis.fetch`, read at call time so that MSW can intercept it. */
  fetch?: typeof globalThis.fetch
  /** Arms the per-call timeout; injected so that tests can fire it. */
  clock?: Clock
  /** Defaults to {@link WORKSPACE_CALL_TIMEOUT_MS}. */
  timeoutMs?: number
}

/** One call to the workspace. */
export interface WorkspaceRequest {
  method: 'GET' | 'POST'
  url: string
  /** The `Authorization` header's value; omitted for public endpoints (OAuth discovery). */
  authorization?: string
  /** A JSON body. */
  json?: unknown
  /** A form-encoded body (the OAuth token endpoint). */
  form?: Record<string, string>
  /** Names the call in error messages, e.g. `the database credential request`. */
  operation: string
  signal: AbortSignal
  /** Secrets sent with this call, removed from any upstream text we repeat. */
  secrets?: readonly string[]
}

/**
 * Calls the workspace and returns the 2xx JSON body parsed by `schema`.
 *
 * Failures are UpstreamErrors: non-2xx by {@link classifyStatus}, carrying the upstream status,
 * `error_code` (or OAuth `error`) and `Retry-After`; a 2xx body that is not JSON or does not fit
 * the schema is `malformed_response`; network failures and timeouts go through
 * {@link toUpstreamError}. Messages hold only statuses, codes and Databricks' own error text,
 * never a token or a response body.
 */
export async function callWorkspace<T>(
  request: WorkspaceRequest,
  schema: z.ZodType<T>,
  options: WorkspaceHttpOptions = {},
): Promise<T> {
  const clock = options.clock ?? systemClock
  const doFetch = options.fetch ?? globalThis.fetch
  const timeout = new AbortController()
  const timer = clock.setTimer(
    () =>
      timeout.abort(
        new DOMException(`${request.operation} took longer than allowed`, 'TimeoutError'),
      ),
    options.timeoutMs ?? WORKSPACE_CALL_TIMEOUT_MS,
  )
  const secrets = [
    ...(request.secrets ?? []),
    ...(request.authorization === undefined ? [] : credentialsIn(request.authorization)),
  ]
  try {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (request.authorization !== undefined) headers.Authorization = request.authorization
    let body: string | undefined
    if (request.form !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(request.form).toString()
    } else if (request.json !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(request.json)
    }
    const response = await doFetch(request.url, {
      method: request.method,
      headers,
      body,
      signal: AbortSignal.any([request.signal, timeout.signal]),
      // A redirect means a wrong host or path (e.g. to a login page); report it, don't follow it.
      redirect: 'manual',
    })
    const text = await response.text()
    if (!response.ok) throw upstreamError(request.operation, response, text, secrets, clock.now())
    return parseBody(request.operation, text, schema)
  } catch (err) {
    throw toUpstreamError(err)
  } finally {
    clock.clearTimer(timer)
  }
}

function upstreamError(
  operation: string,
  response: Response,
  text: string,
  secrets: readonly string[],
  now: number,
): UpstreamError {
  const body = parseJsonObject(text)
  const rawCode = stringField(body, 'error_code') ?? stringField(body, 'error')
  const code = rawCode === undefined ? undefined : redactSecrets(rawCode, secrets)
  const upstreamMessage = stringField(body, 'message') ?? stringField(body, 'error_description')
  let message = `${operation} failed with HTTP ${response.status}`
  if (code !== undefined) message += ` ${code}`
  if (upstreamMessage !== undefined) {
    message += `: ${redactSecrets(upstreamMessage, secrets).slice(0, MAX_UPSTREAM_MESSAGE_CHARS)}`
  }
  return new UpstreamError(classifyStatus(response.status), message, {
    upstreamStatus: response.status,
    upstreamErrorCode: code,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
  })
}

function parseBody<T>(operation: string, text: string, schema: z.ZodType<T>): T {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new UpstreamError(
      'malformed_response',
      `${operation} answered with something other than JSON`,
    )
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    // Only the paths: the values could be tokens.
    const fields = [
      ...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(body)')),
    ]
    throw new UpstreamError(
      'malformed_response',
      `${operation} answered without the expected fields: ${fields.join(', ')}`,
    )
  }
  return parsed.data
}

/** The secret parts of an Authorization header, so that they can be redacted. */
function credentialsIn(authorization: string): string[] {
  const [scheme, value] = authorization.split(' ', 2)
  if (value === undefined) return [authorization]
  if (scheme?.toLowerCase() !== 'basic') return [value]
  const decoded = Buffer.from(value, 'base64').toString('utf8')
  const password = decoded.slice(decoded.indexOf(':') + 1)
  return [value, decoded, password, decodeURIComponentSafe(password)]
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function stringField(body: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = body?.[key]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** A workspace call bound to a host, a token and a signal: what the Lakebase calls are given. */
export type BoundWorkspaceCall = <T>(
  request: { method: 'GET' | 'POST'; path: string; json?: unknown; operation: string },
  schema: z.ZodType<T>,
) => Promise<T>

/** Binds {@link callWorkspace} to one workspace, bearer token and signal. */
export function bindWorkspaceCall(
  host: string,
  accessToken: string,
  signal: AbortSignal,
  options: WorkspaceHttpOptions = {},
): BoundWorkspaceCall {
  return (request, schema) =>
    callWorkspace(
      {
        method: request.method,
        url: `${host}${request.path}`,
        authorization: `Bearer ${accessToken}`,
        json: request.json,
        operation: request.operation,
        signal,
      },
      schema,
      options,
    )
}
