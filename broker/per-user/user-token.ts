import { createHash } from 'node:crypto'

export {
  isAccessToken,
  MAX_USER_TOKEN_CHARS,
  USER_TOKEN_HEADER,
} from '../../shared/client/broker-client.js'

/**
 * A user token's fingerprint: the SHA-256 of the token, hex. It keys the per-user cache, so the
 * cache holds no token, and two tokens of one user are two entries (each is asked of the
 * workspace once, which decides what it may do).
 */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
