import type { MiddlewareHandler } from 'hono'
import type postgres from 'postgres'
import { type BrokerCredentials, isAccessToken } from '../client/broker-client.js'
import { brokerCredentials } from '../client/broker-credentials.js'
import { LakebaseError, LakebaseOptionError } from '../client/errors.js'
import { createSql } from '../postgres/create-sql.js'
import type { Env } from '../process/env.js'
import { type IdentityOptions, identityRule } from './identity.js'
import { type UserPoolOptions, UserPools } from './user-pools.js'

/**
 * The header the Databricks Apps proxy forwards the signed-in user's access token in, when the
 * app has user authorization ("on behalf of the user") scopes.
 */
export const USER_ACCESS_TOKEN_HEADER = 'x-forwarded-access-token'

/** What `lakebase()` puts on the context: `c.var.sql` and `c.var.user`. */
export type LakebaseVariables = {
  /** A postgres.js client logged in with broker credentials (one per process by default). */
  sql: postgres.Sql
  /**
   * The signed-in user: forwarded by the Apps proxy when trusted, else the dev user. Under
   * `asUser`, the Postgres role the user's token logs in as.
   */
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
  /**
   * On behalf of the user: `c.var.sql` logs in as the signed-in user's own Postgres role, with a
   * credential the broker mints from the user's access token (`X-Forwarded-Access-Token`, which
   * the Databricks Apps proxy sends when the app has user authorization), so Postgres grants and
   * row-level security apply to that user. Each user gets a small pool of their own, keyed by the
   * identity the broker minted for, ended when unused (an object tunes them: {@link UserPoolOptions},
   * defaults 2 connections, 60 s connection idle timeout, 5 minutes pool idle, 100 users).
   * A request without the token gets 401 `AUTH_REQUIRED`; one the workspace refuses, 401
   * `USER_TOKEN_REJECTED`. The token proves the identity itself, so it is read whether or not
   * forwarded headers are trusted. Needs a `databricks` broker target; not with `sql`.
   * @default false: one pool for the app's own login
   */
  asUser?: boolean | UserPoolOptions
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
  if (options.asUser) {
    const pools = new UserPools(
      credentials,
      env,
      typeof options.asUser === 'object' ? options.asUser : {},
    )
    return asUserMiddleware(pools)
  }
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
      if (!(err instanceof LakebaseError)) throw err
      if (err.retryAfter !== null) c.header('Retry-After', String(err.retryAfter))
      return c.json(err.toBody(), err.status)
    }
    c.set('user', user)
    c.set('sql', sqlFor())
    await next()
  }
}

/** `lakebase({ asUser })`: each request on the pool of the user whose token it carries. */
function asUserMiddleware(pools: UserPools): MiddlewareHandler<LakebaseEnv> {
  return async function lakebaseAsUser(c, next) {
    const userToken = c.req.header(USER_ACCESS_TOKEN_HEADER)?.trim()
    let lease: Awaited<ReturnType<UserPools['acquire']>>
    try {
      // A malformed one too: it could not be sent on to the broker (node:http refuses it).
      if (!userToken || !isAccessToken(userToken)) {
        throw new LakebaseError(
          401,
          'AUTH_REQUIRED',
          "The signed-in user's access token is required",
          {
            technicalDetails: { expected_header: 'X-Forwarded-Access-Token' },
          },
        )
      }
      lease = await pools.acquire(userToken)
    } catch (err) {
      if (!(err instanceof LakebaseError)) throw err
      if (err.retryAfter !== null) c.header('Retry-After', String(err.retryAfter))
      return c.json(err.toBody(), err.status)
    }
    c.set('user', lease.user)
    c.set('sql', lease.sql)
    try {
      await next()
    } finally {
      lease.release()
    }
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
  if (options.asUser && options.sql !== undefined) {
    throw new LakebaseOptionError(
      'asUser',
      'cannot be used with sql: each user gets their own pool',
    )
  }
  if (options.asUser && c !== undefined && typeof c.forUser !== 'function') {
    throw new LakebaseOptionError('asUser', 'needs credentials from brokerCredentials() (forUser)')
  }
  const a = options.asUser
  if (a !== undefined && typeof a !== 'boolean' && (typeof a !== 'object' || a === null)) {
    throw new LakebaseOptionError('asUser', 'must be true, false or pool options')
  }
  if (typeof a === 'object' && a !== null) {
    for (const key of ['max', 'idleTimeoutS', 'idleMs', 'maxUsers'] as const) {
      const v = a[key]
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
        throw new LakebaseOptionError(`asUser.${key}`, 'must be a positive integer')
      }
    }
  }
  if (options.devUser !== undefined && options.devUser.trim() === '') {
    throw new LakebaseOptionError('devUser', 'must not be empty')
  }
}
