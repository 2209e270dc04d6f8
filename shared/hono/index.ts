/**
 * `lakebase-broker/hono`: the `lakebase()` middleware — `c.var.sql` on broker credentials and
 * `c.var.user` from the Apps proxy — and the error handler that renders the contract's body.
 */
export { type LakebaseErrorHandlerOptions, lakebaseErrorHandler } from './error-handler.js'
export type { IdentityOptions } from './identity.js'
export {
  type LakebaseEnv,
  type LakebaseOptions,
  type LakebaseVariables,
  lakebase,
} from './lakebase.js'
