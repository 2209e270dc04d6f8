// The decoder alone: the package's index loads all of jose (3.6 MB of the broker's memory).
import { decodeJwt } from 'jose/jwt/decode'

/**
 * Lakebase database tokens live one hour (Databricks docs). Used only when neither the response
 * nor the token itself says when it expires.
 */
export const DEFAULT_DATABASE_TOKEN_LIFETIME_MS = 60 * 60_000

/** The claims of a database token that the broker reads; either may be absent. */
export interface TokenClaims {
  /** Expiry, in seconds since the epoch. */
  exp: number | undefined
  /** The identity, i.e. the Postgres role. */
  sub: string | undefined
}

/**
 * Reads `exp` and `sub` from a token without verifying it (Postgres verifies it; the broker only
 * needs hints). A token that is not a JWT simply has no claims.
 */
export function readTokenClaims(token: string): TokenClaims {
  try {
    const claims = decodeJwt(token)
    return {
      exp: typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : undefined,
      sub: typeof claims.sub === 'string' && claims.sub.trim() !== '' ? claims.sub : undefined,
    }
  } catch {
    return { exp: undefined, sub: undefined }
  }
}

/**
 * When a database token expires: the response's stated time (`expiration_time` or
 * `expire_time`), else the JWT's `exp`, else `now` + {@link DEFAULT_DATABASE_TOKEN_LIFETIME_MS}.
 * (The Databricks CLI's own test double leaves the stated time out.)
 */
export function databaseTokenExpiry(
  stated: string | undefined,
  claims: TokenClaims,
  now: number,
): Date {
  if (stated !== undefined) {
    const at = Date.parse(stated)
    if (!Number.isNaN(at)) return new Date(at)
  }
  if (claims.exp !== undefined) return new Date(claims.exp * 1000)
  return new Date(now + DEFAULT_DATABASE_TOKEN_LIFETIME_MS)
}
