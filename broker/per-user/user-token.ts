import { createHash } from 'node:crypto'

/**
 * The request header that carries the end user's Databricks access token (what the Apps proxy
 * forwards as `X-Forwarded-Access-Token`) to `GET /v1/credentials/{target}` and its `/refresh`.
 * A header, never the URL: URLs end up in access logs and proxies' histories.
 */
export const USER_TOKEN_HEADER = 'x-lakebase-user-token'

export { isAccessToken, MAX_USER_TOKEN_CHARS } from '../../shared/broker-client.js'

/**
 * A user token's fingerprint: the SHA-256 of the token, hex. It keys the per-user cache, so the
 * cache holds no token, and two tokens of one user are two entries (each is asked of the
 * workspace once, which decides what it may do).
 */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
