import type { MiddlewareHandler } from 'hono'
import { LakebaseError } from 'lakebase-broker'
import { requestHeader } from 'lakebase-broker/hono'

export type IdentityEnv = { Variables: { userId: string } }

export interface IdentityOptions {
  /** Read the user from the Apps proxy's headers; never set this outside that proxy. */
  trustForwardedHeaders: boolean
  /** The one local user when headers are not trusted. */
  devUser: string
}

/** The longest identity the tables store (`user_id varchar(255)`). */
const MAX_IDENTITY_LENGTH = 255

/**
 * Sets `userId`: behind the Databricks Apps proxy the signed-in user's email
 * (`X-Forwarded-Email`, then `X-Forwarded-User`); elsewhere the configured dev user, and
 * forwarded headers are ignored, since anyone could send them. No identity → 401.
 */
export function identity(options: IdentityOptions): MiddlewareHandler<IdentityEnv> {
  if (!options.trustForwardedHeaders && options.devUser.trim() === '') {
    throw new Error('identity: a dev user is required when forwarded headers are not trusted')
  }
  return async function resolveIdentity(c, next) {
    const user = options.trustForwardedHeaders
      ? (requestHeader(c, 'x-forwarded-email') ?? requestHeader(c, 'x-forwarded-user'))?.trim()
      : options.devUser
    if (!user || user.length > MAX_IDENTITY_LENGTH || hasControlCharacter(user)) {
      throw new LakebaseError(401, 'AUTH_REQUIRED', 'A signed-in user is required', {
        technicalDetails: { expected_header: 'X-Forwarded-Email' },
      })
    }
    c.set('userId', user)
    await next()
  }
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true
  return false
}
