import { z } from 'zod'
import { isTokenPlaceholderUser, TOKEN_USER_TRAP } from './lakebase-settings.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

const meSchema = z.object({ userName: z.string().optional() })

/** Where the Postgres user may come from, best first. */
export interface PostgresUserSources {
  /**
   * The workspace group a group credential was minted for (`LAKEBASE_GROUP`): it logs in as the
   * group's role, whatever PGUSER or the token's `sub` say.
   */
  group?: string | undefined
  /** `PGUSER`, if set. */
  configured: string | undefined
  /** The database token's `sub` claim, if it has one. */
  tokenSubject: string | undefined
  call: BoundWorkspaceCall
}

/**
 * The Postgres role to log in as: a group credential's group role; else, best first: `PGUSER`;
 * the database token's `sub` (the identity the token was minted for); SCIM
 * `GET /api/2.0/preview/scim/v2/Me` → `userName`, asked only when the first two give nothing.
 * Never the literal `token`, which Lakebase has no role for.
 *
 * @throws UpstreamError `config` when PGUSER is `token`; `malformed_response` when no source
 *   names a user.
 */
export async function resolvePostgresUser(sources: PostgresUserSources): Promise<string> {
  if (sources.group !== undefined) return sources.group
  if (sources.configured !== undefined) {
    if (isTokenPlaceholderUser(sources.configured))
      throw new UpstreamError('config', TOKEN_USER_TRAP)
    return sources.configured
  }
  if (sources.tokenSubject !== undefined && !isTokenPlaceholderUser(sources.tokenSubject)) {
    return sources.tokenSubject
  }
  const me = await sources.call(
    { method: 'GET', path: '/api/2.0/preview/scim/v2/Me', operation: 'the SCIM Me request' },
    meSchema,
  )
  const userName = me.userName?.trim()
  if (userName === undefined || userName === '' || isTokenPlaceholderUser(userName)) {
    throw new UpstreamError(
      'malformed_response',
      'cannot tell the Postgres user: PGUSER is unset, the database token has no sub, and SCIM Me gave no userName; set PGUSER',
    )
  }
  return userName
}
