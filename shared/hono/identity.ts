import type { Context, MiddlewareHandler } from 'hono'
import { LakebaseError, LakebaseOptionError } from '../client/errors.js'
import { type Env, envValue } from '../process/env.js'
import { DEFAULT_DEV_USER } from './dev-user.js'
import { requestHeader } from './request-header.js'

/** Who the signed-in user is, and whether the Apps proxy's headers say so. */
export interface IdentityOptions {
  /**
   * Read the user from `X-Forwarded-Email` (then `X-Forwarded-User`), which only the Databricks
   * Apps proxy may set: never turn this on where clients reach the service directly.
   * @default `TRUST_FORWARDED_HEADERS`, else true when `DATABRICKS_APP_NAME` is set
   */
  trustForwardedHeaders?: boolean
  /**
   * The one user when forwarded headers are not trusted (a laptop, a test).
   * @default `LAKEBASE_DEV_USER`, else `dev-user@example.com`
   */
  devUser?: string
}

/** The longest identity the tables store (`user_id varchar(255)`). */
export const MAX_IDENTITY_LENGTH = 255

/** The identity rule with its defaults read from `env`, once. */
export function identityRule(options: IdentityOptions, env: Env) {
  const trusted = envValue(env, 'TRUST_FORWARDED_HEADERS')
  const trust =
    options.trustForwardedHeaders ??
    (trusted !== undefined
      ? trusted === 'true'
      : envValue(env, 'DATABRICKS_APP_NAME') !== undefined)
  const devUser = options.devUser ?? envValue(env, 'LAKEBASE_DEV_USER') ?? DEFAULT_DEV_USER
  return {
    trust,
    devUser,
    /** The request's user; throws 401 AUTH_REQUIRED when there is none. */
    userOf(c: Context): string {
      const user = trust
        ? (requestHeader(c, 'x-forwarded-email') ?? requestHeader(c, 'x-forwarded-user'))?.trim()
        : devUser
      if (!user || user.length > MAX_IDENTITY_LENGTH || hasControlCharacter(user)) {
        throw new LakebaseError(401, 'AUTH_REQUIRED', 'A signed-in user is required', {
          technicalDetails: { expected_header: 'X-Forwarded-Email' },
        })
      }
      return user
    },
  }
}

/** Options of {@link identity}. */
export interface IdentityMiddlewareOptions extends IdentityOptions {
  /** Where the defaults are read. @default `process.env` */
  env?: Env
}

/** What {@link identity} sets: `c.var.user`, as {@link lakebase} does. */
export type IdentityEnv = { Variables: { user: string } }

/**
 * `app.use(identity())`: `c.var.user` without a database, by the same rule as `lakebase()` —
 * behind the Databricks Apps proxy the signed-in user's email (`X-Forwarded-Email`, then
 * `X-Forwarded-User`); elsewhere the dev user, and forwarded headers are ignored, since anyone
 * could send them. No identity → 401 `AUTH_REQUIRED`.
 *
 * @throws LakebaseOptionError when headers are not trusted and the dev user is blank.
 */
export function identity(options: IdentityMiddlewareOptions = {}): MiddlewareHandler<IdentityEnv> {
  const rule = identityRule(options, options.env ?? process.env)
  if (!rule.trust && rule.devUser.trim() === '') {
    throw new LakebaseOptionError('devUser', 'is required when forwarded headers are not trusted')
  }
  return async function resolveIdentity(c, next) {
    let user: string
    try {
      user = rule.userOf(c)
    } catch (err) {
      // Answered here, as lakebase() does, whatever error handler the app has.
      if (!(err instanceof LakebaseError)) throw err
      return c.json(err.toBody(), err.status)
    }
    c.set('user', user)
    await next()
  }
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true
  return false
}
