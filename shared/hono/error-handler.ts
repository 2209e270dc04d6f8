import type { ErrorHandler, NotFoundHandler } from 'hono'
import { LakebaseOptionError } from '../client/errors.js'
import { errorHandler, notFoundHandler } from '../process/error-handler.js'
import { createLogger, type Logger } from '../process/logger.js'

/** Options of {@link lakebaseErrorHandler}. */
export interface LakebaseErrorHandlerOptions {
  /** Where 5xx answers and unexpected errors are logged. @default JSON lines on stdout */
  logger?: Logger
}

/**
 * `app.onError(lakebaseErrorHandler())`: every error in the contract's body. A `LakebaseError`
 * keeps its status and `error_code` (with `Retry-After` when set); a Postgres error nobody caught
 * gets its SQLSTATE's answer (`DATABASE_NOT_MIGRATED`, `DATABASE_PERMISSION_DENIED`,
 * `DATABASE_TIMEOUT`, …, never with a statement's values); anything else is logged and 500.
 */
export function lakebaseErrorHandler(options: LakebaseErrorHandlerOptions = {}): ErrorHandler {
  const logger = options.logger
  if (logger !== undefined && typeof logger?.warn !== 'function') {
    throw new LakebaseOptionError('logger', 'must be a pino logger')
  }
  return errorHandler(logger ?? createLogger({ name: 'lakebase' }))
}

/**
 * `app.notFound(lakebaseNotFound())`: a route that does not exist answers 404 `NOT_FOUND` in the
 * contract's error body, like every other error.
 */
export function lakebaseNotFound(): NotFoundHandler {
  return notFoundHandler()
}
