import { z } from '@hono/zod-openapi'

/** Every `error_code` the functions answer with, and what it means to a client. */
export const ERROR_CODES = {
  INVALID_REQUEST:
    'The request failed validation; `technical_details.fields` names each field and why.',
  AUTH_REQUIRED:
    'No signed-in user: behind the Databricks Apps proxy, `X-Forwarded-Email` is missing.',
  PREFERENCE_NOT_FOUND: 'The user has no preference with this key.',
  PAYLOAD_TOO_LARGE: 'The body, or a preference value, is over its size limit.',
  UNSUPPORTED_MEDIA_TYPE: 'A body was sent with a `Content-Type` other than `application/json`.',
  LAKEBASE_NOT_CONFIGURED:
    'The credential broker is not reachable or refused this client; `technical_details.suggestion` names what to set.',
  CREDENTIAL_UNAVAILABLE:
    'The broker holds no valid database credential right now; retry after `retry_after` seconds.',
  DATABASE_UNAVAILABLE:
    'Postgres is not reachable, read-only, busy or starting right now (or a write lost its connection and may or may not have been applied); retry after `retry_after` seconds.',
  DATABASE_NOT_MIGRATED:
    'A table or column is missing: run `npm run migrate`; `technical_details.suggestion` says so.',
  DATABASE_PERMISSION_DENIED:
    "The app's Postgres role lacks a grant; `technical_details` name the role and object, and the `suggestion` carries the GRANT the owner should run.",
  DATABASE_TIMEOUT:
    'The statement ran past `statement_timeout` (`LAKEBASE_STATEMENT_TIMEOUT_MS`); retry after `retry_after` seconds.',
  DATABASE_CONFLICT:
    'A serialization failure or deadlock outlasted its retries; retry after `retry_after` seconds.',
  MODEL_UNAVAILABLE:
    'The serving endpoint failed, refused the call or is not configured; `technical_details` carry the upstream status and error code.',
  MODEL_TIMEOUT: 'The serving endpoint did not answer within `timeout_seconds`.',
} as const
export type ErrorCode = keyof typeof ERROR_CODES

/** The statuses the functions answer errors with. */
export type ErrorStatus = 400 | 401 | 404 | 413 | 415 | 503

/** The contract's error body, the same on every route. */
export const errorBodySchema = z
  .object({
    detail: z.object({
      error_code: z.string().openapi({ example: 'INVALID_REQUEST' }),
      message: z.string(),
      technical_details: z.record(z.string(), z.unknown()),
      retry_after: z.number().int().nullable().openapi({
        description: 'Seconds to wait before retrying; null when retrying will not help',
      }),
    }),
  })
  .openapi('ErrorBody')

/** The error body with `error_code` narrowed to the codes one response can carry. */
function errorBodyWith(codes: readonly [ErrorCode, ...ErrorCode[]]) {
  return z.object({
    detail: errorBodySchema.shape.detail.extend({ error_code: z.enum(codes) }),
  })
}

/** Errors every route behind the identity middleware can answer. */
export const IDENTITY_ERRORS = { 401: ['AUTH_REQUIRED'] } as const
/** Errors every route that reads or writes Postgres can answer. */
export const DATABASE_ERRORS = {
  503: [
    'DATABASE_UNAVAILABLE',
    'CREDENTIAL_UNAVAILABLE',
    'LAKEBASE_NOT_CONFIGURED',
    'DATABASE_NOT_MIGRATED',
    'DATABASE_PERMISSION_DENIED',
    'DATABASE_TIMEOUT',
    'DATABASE_CONFLICT',
  ],
} as const
/** Errors every route with a JSON body can answer. */
export const BODY_ERRORS = {
  400: ['INVALID_REQUEST'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
} as const

type ErrorCodeMap = Partial<Record<ErrorStatus, readonly ErrorCode[]>>
/** The keys of every member of a union, not just the common ones. */
type KeysOfEach<T> = T extends unknown ? keyof T : never

/**
 * The documented error responses of one route: for each status, the error body with its
 * possible `error_code`s listed (as an enum and in the description). Maps given for the same
 * status are merged.
 */
export function errorResponses<const M extends ErrorCodeMap[]>(...maps: M) {
  const merged = new Map<ErrorStatus, Set<ErrorCode>>()
  for (const map of maps) {
    for (const [status, codes] of Object.entries(map) as [string, readonly ErrorCode[]][]) {
      const set = merged.get(Number(status) as ErrorStatus) ?? new Set()
      for (const code of codes) set.add(code)
      merged.set(Number(status) as ErrorStatus, set)
    }
  }
  const responses: Record<number, { description: string; content: object }> = {}
  for (const [status, set] of merged) {
    const codes = [...set] as [ErrorCode, ...ErrorCode[]]
    responses[status] = {
      description: codes.map((code) => `\`${code}\`: ${ERROR_CODES[code]}`).join('\n\n'),
      content: { 'application/json': { schema: errorBodyWith(codes) } },
    }
  }
  return responses as {
    [S in KeysOfEach<M[number]> & ErrorStatus]: {
      description: string
      content: { 'application/json': { schema: typeof errorBodySchema } }
    }
  }
}
