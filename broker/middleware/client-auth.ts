import { hash } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { LakebaseError } from '../../shared/client/errors.js'
import type { ClientConfig } from '../config.js'

export type ClientAuthEnv = { Variables: { caller: ClientConfig } }

const digest = (value: string) => hash('sha256', value, 'base64')

/** The token of an `Authorization: Bearer <token>` value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]
}

/**
 * The configured clients by the SHA-256 digest of their token. A presented token is hashed and
 * looked up by its digest: the lookup's timing depends on the digest, which an attacker cannot
 * steer towards a real token's, so it tells nothing about which token or how much of it matched
 * (the same reasoning as comparing digests in constant time, for one hash and one Map lookup
 * instead of one comparison per client).
 */
export class ClientTable {
  private readonly byDigest = new Map<string, ClientConfig>()

  constructor(clients: readonly ClientConfig[]) {
    if (clients.length === 0) throw new Error('the broker needs at least one client')
    for (const client of clients) {
      const key = digest(client.token)
      // Two clients with one token: the first configured wins, as before.
      if (!this.byDigest.has(key)) this.byDigest.set(key, client)
    }
  }

  /** The client whose token an `Authorization` header value carries, if any. */
  caller(authorization: string | undefined): ClientConfig | undefined {
    const token = bearerToken(authorization)
    return token === undefined ? undefined : this.byDigest.get(digest(token))
  }
}

/** Requires `Authorization: Bearer <client token>` and sets `caller`; see {@link ClientTable}. */
export function clientAuth(
  clients: readonly ClientConfig[] | ClientTable,
): MiddlewareHandler<ClientAuthEnv> {
  const table = clients instanceof ClientTable ? clients : new ClientTable(clients)
  return async function authenticateClient(c, next) {
    const caller = table.caller(c.req.header('authorization'))
    if (!caller) {
      c.header('WWW-Authenticate', 'Bearer realm="lakebase-broker"')
      throw new LakebaseError(401, 'BROKER_UNAUTHORIZED', 'a valid client token is required')
    }
    c.set('caller', caller)
    await next()
  }
}

/**
 * Whether a client may read a target. A read-only companion (`<primary>-ro`) is readable by every
 * client allowed its primary: it serves the same credential, to a host that cannot write.
 */
export function mayRead(client: ClientConfig, target: string, primary?: string): boolean {
  if (client.targets === '*' || client.targets.includes(target)) return true
  return primary !== undefined && client.targets.includes(primary)
}
