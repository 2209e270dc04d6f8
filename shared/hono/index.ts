/**
 * `lakebase-broker/hono`: the `lakebase()` middleware — `c.var.sql` on broker credentials and
 * `c.var.user` from the Apps proxy — the error and not-found handlers that render the contract's
 * body, and the redacting logger they log through.
 */
export { describeError } from '../process/error-handler.js'
export { createLogger, type Logger, type LoggerOptions } from '../process/logger.js'
export { DEFAULT_DEV_USER } from './dev-user.js'
export {
  type LakebaseErrorHandlerOptions,
  lakebaseErrorHandler,
  lakebaseNotFound,
} from './error-handler.js'
export {
  type IdentityEnv,
  type IdentityMiddlewareOptions,
  type IdentityOptions,
  identity,
  MAX_IDENTITY_LENGTH,
} from './identity.js'
export {
  type LakebaseEnv,
  type LakebaseOptions,
  type LakebaseVariables,
  lakebase,
} from './lakebase.js'
export { nodeHeaders, requestHeader } from './request-header.js'
