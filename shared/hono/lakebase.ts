import type { MiddlewareHandler } from 'hono'
import type postgres from 'postgres'
import type { BrokerCredentials } from '../broker-client.js'
import { brokerCredentials } from '../broker-credentials.js'
import type { Env } from '../env.js'
import { AppError, LakebaseOptionError } from '../errors.js'
import { createSql } from '../postgres/create-sql.js'
import { type IdentityOptions, identityRule } from './identity.js'

/** What `lakebase()` puts on the context: `c.var.sql` and `c.var.user`. */
export type LakebaseVariables = {
  /** A postgres.js client logged in with broker credentials (one per process by default). */
  sql: postgres.Sql
  /** The signed-in user: forwarded by the Apps proxy when trusted, else the dev user. */
  user: string
}
/** The Hono environment of an app that uses `lakebase()`: `new Hono<LakebaseEnv>()`. */
export type LakebaseEnv = { Variables: LakebaseVariables }

/** Options of {@link lakebase}. */
export interface LakebaseOptions extends IdentityOptions {
  /**
   * The postgres.js client to hand out as `c.var.sql`.
   * @default one `createSql({ credentials, env })` per process, made on the first request
   */
  sql?: postgres.Sql
  /** @default `brokerCredentials({ env })`, shared by every entry in the process */
  credentials?: BrokerCredentials
  /** Where defaults are read. @default `process.env` */
  env?: Env
}

/** One client per process for every `lakebase()` that was given none: one pool, one login. */
let processSql: postgres.Sql | undefined

/**
 * Hono middleware: `c.var.sql` (postgres.js on broker credentials, refreshed ahead of expiry)
 * and `c.var.user` (the signed-in user). A request gets the contract's error body instead when
 * no credential can be had (503 `CREDENTIAL_UNAVAILABLE` or `LAKEBASE_NOT_CONFIGURED`, answered
 * in milliseconds, never a hung request) or when it has no user (401 `AUTH_REQUIRED`).
 *
 * @example
 * const app = new Hono<LakebaseEnv>()
 * app.use('/api/*', lakebase())
 * app.get('/api/now', async (c) => c.json(await c.var.sql`select now()`))
 */
export function lakebase(options: LakebaseOptions = {}): MiddlewareHandler<LakebaseEnv> {
  check(options)
  const env = options.env ?? process.env
  const credentials = options.credentials ?? brokerCredentials({ env })
  const identity = identityRule(options, env)
  const own = options.sql
  const sqlFor = () => {
    if (own) return own
    processSql ??= createSql({ credentials, env })
    return processSql
  }
  return async function lakebaseMiddleware(c, next) {
    let user: string
    try {
      user = identity.userOf(c)
      // From memory until the refresh point; fails in milliseconds when the broker has none.
      if (!credentials.current()) await credentials.get()
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      if (err.retryAfter !== null) c.header('Retry-After', String(err.retryAfter))
      return c.json(err.toBody(), err.status)
    }
    c.set('user', user)
    c.set('sql', sqlFor())
    await next()
  }
}

function check(options: LakebaseOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new LakebaseOptionError('options', 'must be an object')
  }
  if (options.sql !== undefined && typeof options.sql !== 'function') {
    throw new LakebaseOptionError('sql', 'must be a postgres.js client (createSql())')
  }
  const c = options.credentials
  if (c !== undefined && (typeof c?.get !== 'function' || typeof c.current !== 'function')) {
    throw new LakebaseOptionError('credentials', 'must come from brokerCredentials()')
  }
  const t = options.trustForwardedHeaders
  if (t !== undefined && typeof t !== 'boolean') {
    throw new LakebaseOptionError('trustForwardedHeaders', 'must be true or false')
  }
  if (options.devUser !== undefined && options.devUser.trim() === '') {
    throw new LakebaseOptionError('devUser', 'must not be empty')
  }
}
