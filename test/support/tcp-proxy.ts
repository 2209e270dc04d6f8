import { connect, createServer, type Server, type Socket } from 'node:net'
import { freePort } from './free-port.js'

/** A loopback TCP proxy to Postgres that can lose an answer on purpose. */
export interface TcpProxy {
  /** The loopback address it listens on: 127.0.0.1 unless another was asked. */
  host: string
  port: number
  /** Connections it accepted (reset ones included). */
  readonly connections: number
  /** Connections it reset on arrival (see `refuseFor`). */
  readonly refused: number
  /** Starts accepting (a server coming up, e.g. waking from scale-to-zero). */
  listen(): Promise<void>
  /**
   * The next statement sent through the proxy runs (and commits) on the server, but its answer
   * never arrives: both sockets are destroyed when the server's ReadyForQuery after it (which
   * follows the commit) comes back. The connection must be open already (no login messages).
   * With `containing`, only a statement whose text holds it counts (e.g. `commit`, sent as a
   * simple query). Resolves once that happened.
   */
  dropNextAnswer(containing?: string): Promise<void>
  /**
   * For the next `ms`, resets every connection as soon as it is accepted, before a byte reaches
   * Postgres, as an endpoint waking from scale-to-zero refuses them; then forwards again. A
   * client that retries at once fails; one that waits for the wake-up gets through.
   */
  refuseFor(ms: number): void
  close(): Promise<void>
}

/** Where the proxy listens; by default 127.0.0.1 on a free port. */
export interface TcpProxyOptions {
  /** Another loopback address, e.g. 127.0.0.2 for a second host name on the same port. */
  host?: string
  port?: number
}

/** A proxy on a free loopback port to `target`; not listening until `listen()`. */
export async function tcpProxy(
  target: { host: string; port: number },
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? (await freePort())
  const sockets = new Set<Socket>()
  let armed: (() => void) | undefined
  let needle: string | undefined
  let server: Server | undefined
  let connections = 0
  let refused = 0
  let refuseUntil = 0
  const onConnection = (client: Socket) => {
    connections += 1
    if (performance.now() < refuseUntil) {
      refused += 1
      client.resetAndDestroy()
      return
    }
    const upstream = connect(target.port, target.host)
    sockets.add(client).add(upstream)
    let executed = false
    let answer = Buffer.alloc(0)
    client.on('data', (chunk) => {
      // Execute (E) or a simple Query (Q): from here the statement runs, and commits at Sync.
      const runs = messageTypes(chunk).some((t) => t === 'E' || t === 'Q')
      if (armed && runs && (needle === undefined || chunk.toString('latin1').includes(needle))) {
        executed = true
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (executed && armed) {
        answer = Buffer.concat([answer, chunk])
        // ReadyForQuery (Z) follows the commit: that is the answer that never arrives.
        if (messageTypes(answer).includes('Z')) {
          const done = armed
          armed = undefined
          client.destroy()
          upstream.destroy()
          done()
          return
        }
      }
      client.write(chunk)
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  }
  return {
    host,
    port,
    get connections() {
      return connections
    },
    get refused() {
      return refused
    },
    listen: () =>
      new Promise((resolve, reject) => {
        server = createServer(onConnection)
        server.once('error', reject)
        server.listen(port, host, () => resolve())
      }),
    dropNextAnswer: (containing) =>
      new Promise((resolve) => {
        needle = containing
        armed = resolve
      }),
    refuseFor(ms) {
      refuseUntil = performance.now() + ms
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    },
  }
}

/** The types of the whole protocol messages at the start of `buffer` (type byte, int32 length). */
function messageTypes(buffer: Buffer): string[] {
  const types: string[] = []
  for (let at = 0; at + 5 <= buffer.length; ) {
    types.push(String.fromCharCode(buffer[at] ?? 0))
    at += 1 + buffer.readUInt32BE(at + 1)
  }
  return types
}
