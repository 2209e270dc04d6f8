import type { ErrorHandler, NotFoundHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Logger } from 'pino'
import { LakebaseError } from '../client/errors.js'
import { databaseErrorAnswer, safeDatabaseMessage, sqlstateOf } from '../client/sqlstate.js'
import { statementTemplate } from '../postgres/statement.js'

/** Status codes Hono's own middleware throws, as the contract's error codes. */
const HTTP_EXCEPTION_CODES: Record<number, string> = {
  400: 'INVALID_REQUEST',
  401: 'AUTH_REQUIRED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

/**
 * The one place errors become responses: typed errors render the contract's body; a database
 * error nobody caught gets the answer the SQLSTATE table gives it (shared/client/sqlstate.ts);
 * anything else is a bug, logged with its cause and answered 500 without details.
 */
export function errorHandler(logger: Logger): ErrorHandler {
  return function renderError(thrown, c) {
    const err = thrown instanceof LakebaseError ? thrown : (databaseErrorAnswer(thrown) ?? thrown)
    if (err instanceof LakebaseError) {
      if (err.status >= 500) logger.warn({ err: describeError(err), path: c.req.path }, err.message)
      if (err.retryAfter !== null) c.header('Retry-After', String(err.retryAfter))
      return c.json(err.toBody(), err.status)
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code = HTTP_EXCEPTION_CODES[err.status] ?? 'INVALID_REQUEST'
      const body = new LakebaseError(err.status, code, err.message || code).toBody()
      return c.json(body, err.status)
    }
    logger.error({ err: describeError(err), path: c.req.path }, 'unexpected error')
    return c.json(new LakebaseError(500, 'INTERNAL_ERROR', 'Internal error').toBody(), 500)
  }
}

/** 404 for routes that do not exist, in the contract's body. */
export function notFoundHandler(): NotFoundHandler {
  return function notFound(c) {
    return c.json(
      new LakebaseError(404, 'NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`).toBody(),
      404,
    )
  }
}

/**
 * An error as a log field: name, message and code, and the same of its causes, no stack data.
 * Never a value from a statement: drizzle's wrapper (whose message lists the parameters) is
 * described by its statement template, and Postgres's message only when its class quotes none.
 */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) }
  const code = (err as { code?: unknown }).code
  const query = (err as { query?: unknown }).query
  let message = err.message
  if (err.name === 'DrizzleQueryError' || ('params' in err && typeof query === 'string')) {
    message = `Failed query: ${typeof query === 'string' ? statementTemplate([query]) : ''}`
  } else if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err) {
    message =
      safeDatabaseMessage(err) ??
      `(message withheld: SQLSTATE ${sqlstateOf(err)} may quote a value)`
  }
  const out: Record<string, unknown> = { name: err.name, message }
  if (typeof code === 'string') out.code = code
  if (err.cause !== undefined) out.cause = describeError(err.cause)
  return out
}
