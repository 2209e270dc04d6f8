import { chmod, lstat, unlink } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'

export type ListenOn =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'socket'; path: string }

/** Open requests get this long to finish on close before their connections are cut. */
export const CLOSE_GRACE_MS = 5_000
/** A socket only the owner may connect to: the credential endpoint is per-user. */
const SOCKET_MODE = 0o600

export interface RunningServer {
  server: Server
  /** `http://host:port` or `unix:/path`. */
  url: string
  /** Stops accepting, lets open requests finish (up to CLOSE_GRACE_MS), then resolves. */
  close(): Promise<void>
}

/** Serves a fetch handler with Node's HTTP server on loopback TCP or a unix socket. */
export async function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  on: ListenOn,
): Promise<RunningServer> {
  const server = createAdaptorServer({ fetch }) as Server
  // Clients keep connections to the broker open; reuse them rather than reconnecting.
  server.keepAliveTimeout = 65_000
  if (on.kind === 'socket') await removeStaleSocket(on.path)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (on.kind === 'tcp') {
      server.listen(on.port, on.host, () => resolve())
    } else {
      // Create the socket with the final mode, so no other user can connect in between.
      const previous = process.umask(0o177)
      server.listen(on.path, () => resolve())
      process.umask(previous)
    }
  })
  if (on.kind === 'socket') await chmod(on.path, SOCKET_MODE)
  const url = on.kind === 'socket' ? `unix:${on.path}` : tcpUrl(server.address() as AddressInfo)
  return { server, url, close: () => closeServer(server) }
}

function tcpUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const stat = await lstat(path)
    if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`)
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve()
      return
    }
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS)
    force.unref()
    server.close(() => {
      clearTimeout(force)
      resolve()
    })
    server.closeIdleConnections()
  })
}
