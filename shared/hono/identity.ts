import type { Context } from 'hono'
import { DEFAULT_DEV_USER } from '../dev-user.js'
import { type Env, envValue } from '../env.js'
import { AppError } from '../errors.js'
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
        throw new AppError(401, 'AUTH_REQUIRED', 'A signed-in user is required', {
          technicalDetails: { expected_header: 'X-Forwarded-Email' },
        })
      }
      return user
    },
  }
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true
  return false
}
