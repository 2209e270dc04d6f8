import type { Socket } from 'node:net'

/** The driver's connections, counted where they are made and destroyed. */
export interface SocketCounts {
  /** TCP (or unix) connections made and not yet destroyed: logging in, idle or busy. */
  open: number
  /** Connections destroyed, whether or not they ever logged in. */
  closed: number
}

type SocketOptions = {
  host?: string | string[]
  port?: number | number[]
  path?: string | false | null
}

/**
 * A postgres.js `socket` option that makes the very sockets postgres.js would make (TCP to the
 * first host and port, or its unix socket), counting each until it is destroyed: the pool's
 * open connections as the driver holds them, a failed login or a refused connect included only
 * while its socket lives. postgres.js writes the startup message at once; Node buffers it until
 * the connect completes, and an error (ECONNREFUSED) reaches postgres.js's own handler, which it
 * attaches before the next tick. TLS wraps this socket as it would its own (`socket.host` is set
 * for the server name), and its connect timeout and keep-alive work unchanged.
 *
 * postgres.js 3 calls it with its options alone (first host and port); 4 passes the host and port
 * of each attempt as well (`null` host for a unix socket, whose path is `options.path`).
 *
 * Undefined where there is no `node:net` (Cloudflare Workers, whose postgres.js build brings its
 * own sockets): there the count stays an estimate.
 */
export function countedSocket(
  counts: SocketCounts,
): ((options: SocketOptions, host?: string | null, port?: number) => Promise<Socket>) | undefined {
  const nav = (globalThis as { navigator?: { userAgent?: string } }).navigator
  if (nav?.userAgent === 'Cloudflare-Workers') return undefined
  let Counted: (new () => Socket) | undefined
  return async (options, attemptHost, attemptPort) => {
    Counted ??= countingClass(counts, (await import('node:net')).Socket)
    const host = attemptHost ?? first(options.host) ?? 'localhost'
    const port = attemptPort ?? first(options.port) ?? 5432
    const socket = new Counted()
    counts.open += 1
    if (typeof options.path === 'string' && options.path !== '') socket.connect(options.path)
    else if (host.startsWith('/')) socket.connect(`${host}/.s.PGSQL.${port}`)
    else socket.connect(port, host)
    Object.assign(socket, { host, port })
    return socket
  }
}

function countingClass(counts: SocketCounts, Base: typeof Socket): new () => Socket {
  return class CountedSocket extends Base {
    #counted = true
    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      if (this.#counted) {
        this.#counted = false
        counts.open -= 1
        counts.closed += 1
      }
      super._destroy(error, callback)
    }
  }
}

function first<T>(value: T | T[] | undefined): T | undefined {
  return Array.isArray(value) ? value[0] : value
}
