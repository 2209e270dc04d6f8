import type { ErrorHandler, NotFoundHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Logger } from 'pino'
import { AppError } from './errors.js'

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
 * The one place errors become responses: typed errors render the contract's body; anything
 * else is a bug, logged with its cause and answered 500 without details.
 */
export function errorHandler(logger: Logger): ErrorHandler {
  return function renderError(err, c) {
    if (err instanceof AppError) {
      if (err.status >= 500) logger.warn({ err: describe(err), path: c.req.path }, err.message)
      if (err.retryAfter !== null) c.header('Retry-After', String(err.retryAfter))
      return c.json(err.toBody(), err.status)
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code = HTTP_EXCEPTION_CODES[err.status] ?? 'INVALID_REQUEST'
      const body = new AppError(err.status, code, err.message || code).toBody()
      return c.json(body, err.status)
    }
    logger.error({ err: describe(err), path: c.req.path }, 'unexpected error')
    return c.json(new AppError(500, 'INTERNAL_ERROR', 'Internal error').toBody(), 500)
  }
}

/** 404 for routes that do not exist, in the contract's body. */
export function notFoundHandler(): NotFoundHandler {
  return function notFound(c) {
    return c.json(
      new AppError(404, 'NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`).toBody(),
      404,
    )
  }
}

/** An error as a log field: name, message and code, and the same of its causes, no stack data. */
export function describe(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) }
  const out: Record<string, unknown> = { name: err.name, message: err.message }
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') out.code = code
  if (err.cause !== undefined) out.cause = describe(err.cause)
  return out
}
