import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { AppError } from '../../shared/errors.js'
import type { ClientConfig } from '../config.js'

export type ClientAuthEnv = { Variables: { caller: ClientConfig } }

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Requires `Authorization: Bearer <client token>` and sets `caller`. Tokens are compared as
 * SHA-256 digests in constant time, against every client, so timing tells nothing about which
 * token or how much of it matched.
 */
export function clientAuth(clients: readonly ClientConfig[]): MiddlewareHandler<ClientAuthEnv> {
  if (clients.length === 0) throw new Error('clientAuth needs at least one client')
  const known = clients.map((client) => ({ client, digest: digest(client.token) }))

  return async function authenticateClient(c, next) {
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    let caller: ClientConfig | undefined
    if (match?.[1]) {
      const presented = digest(match[1])
      for (const k of known) {
        if (timingSafeEqual(presented, k.digest) && !caller) caller = k.client
      }
    }
    if (!caller) {
      c.header('WWW-Authenticate', 'Bearer realm="lakebase-broker"')
      throw new AppError(401, 'BROKER_UNAUTHORIZED', 'a valid client token is required')
    }
    c.set('caller', caller)
    await next()
  }
}

/** Whether a client may read a target. */
export function mayRead(client: ClientConfig, target: string): boolean {
  return client.targets === '*' || client.targets.includes(target)
}
