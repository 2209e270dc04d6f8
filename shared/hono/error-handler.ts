import type { ErrorHandler } from 'hono'
import { errorHandler } from '../error-handler.js'
import { LakebaseOptionError } from '../errors.js'
import { createLogger, type Logger } from '../logger.js'

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
