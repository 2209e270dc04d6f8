import { chmod, lstat, unlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { type AddressInfo, Socket } from 'node:net'
import { getRequestListener, type HttpBindings } from '@hono/node-server'

export type ListenOn =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'socket'; path: string }

/** Open requests get this long to finish on close before their connections are cut. */
export const CLOSE_GRACE_MS = 5_000
/** A socket only the owner may connect to: the credential endpoint is per-user. */
const SOCKET_MODE = 0o600
/**
 * After an early answer (one sent before the request body has arrived, such as a 413), the
 * server keeps reading and discarding the body for up to this long before it closes. Closing with
 * unread bytes makes the kernel send RST, which can wipe the answer from the client's receive
 * buffer before the client reads it ("other side closed"). Clients that watch for an early answer
 * (undici, curl, browsers) stop sending and close within milliseconds; this bounds the ones that
 * upload to the end first. nginx's `lingering_time` default, 30 s.
 */
export const LINGER_MAX_MS = 30_000
/**
 * …and for no more than this many bytes: the most reading one refused request can cost us.
 * The same cap @hono/node-server puts on its own drain (MAX_DRAIN_BYTES), and well above the
 * bodies a client sends by mistake (the tests send 10 MiB).
 */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024

export interface RunningServer {
  server: Server
  /** `http://host:port` or `unix:/path`. */
  url: string
  /** Stops accepting, lets open requests finish (up to CLOSE_GRACE_MS), then resolves. */
  close(): Promise<void>
}

/** How long and how much an early answer's connection is read before it closes. */
export interface Linger {
  /** Default {@link LINGER_MAX_MS}. */
  maxMs?: number
  /** Default {@link LINGER_MAX_BYTES}. */
  maxBytes?: number
}

/**
 * Serves a fetch handler with Node's HTTP server on loopback TCP or a unix socket.
 *
 * An answer sent before the request body has arrived (a 413 from the body limit, a 415, a 401
 * or 404 that never looks at the body) reaches the client, and costs no other request its
 * connection: it goes out with `Connection: close`, so the client sends nothing more on that
 * connection, and the connection closes only once the rest of the body has been read and
 * discarded (a "lingering close", RFC 9112 §9.6), within {@link LINGER_MAX_MS} and
 * {@link LINGER_MAX_BYTES}.
 */
export async function listen(
  fetch: (request: Request, env: HttpBindings) => Response | Promise<Response>,
  on: ListenOn,
  linger: Linger = {},
): Promise<RunningServer> {
  const limits = { maxMs: LINGER_MAX_MS, maxBytes: LINGER_MAX_BYTES, ...linger }
  // @hono/node-server's own clean-up is off: once the answer is written it drains an unread body
  // for 500 ms, with the app's body reader still attached, which pauses the body again after
  // every chunk; the drain then times out and destroys a connection it answered `keep-alive` on,
  // under whatever request the client sent next. The listener below does that job instead.
  const handle = getRequestListener(
    (request, env) => answer(fetch, request, env as HttpBindings, limits),
    { autoCleanupIncoming: false },
  )
  const server = createServer((incoming, outgoing) => {
    if (declaresBody(incoming)) outgoing.once('finish', () => discardUnread(incoming))
    return handle(incoming, outgoing)
  })
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

/** Runs the app; an answer that beats its request body closes the connection, lingering. */
function answer(
  fetch: (request: Request, env: HttpBindings) => Response | Promise<Response>,
  request: Request,
  env: HttpBindings,
  limits: Required<Linger>,
): Response | Promise<Response> {
  const answered = fetch(request, env)
  // Most answers come back synchronously; keeping them so keeps @hono/node-server's fast path.
  if (!(answered instanceof Promise)) return early(env.incoming, answered, limits)
  return answered.then((response) => early(env.incoming, response, limits))
}

/**
 * The answer as is when its request has all arrived (or has no body); otherwise, once the rest
 * of the bytes already received are parsed, the answer with `Connection: close`.
 */
function early(
  incoming: IncomingMessage,
  response: Response,
  limits: Required<Linger>,
): Response | Promise<Response> {
  if (incoming.complete || !declaresBody(incoming)) return response
  // Node emits the request when its headers are parsed, and an app that answers at once does so
  // before the parser has read on through the body bytes that came in the same packet. One turn
  // of the event loop lets it; a small body the app did not read then keeps its connection.
  return new Promise((resolve) => {
    setImmediate(() => {
      resolve(incoming.complete ? response : closeConnection(incoming, response, limits))
    })
  })
}

function declaresBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers['content-length']
  return (
    (length !== undefined && length !== '0') || incoming.headers['transfer-encoding'] !== undefined
  )
}

/** The answer, with `Connection: close`, and its connection set to close lingering. */
function closeConnection(
  incoming: IncomingMessage,
  response: Response,
  limits: Required<Linger>,
): Response {
  lingerOnClose(incoming, limits)
  try {
    response.headers.set('connection', 'close')
    return response
  } catch {
    // Headers of a Response the app passed through from fetch() are immutable.
    const copy = new Response(response.body, response)
    copy.headers.set('connection', 'close')
    return copy
  }
}

/**
 * Makes the close of this connection a lingering one: from now on the rest of the request body
 * is read and discarded; once the answer is written, the server half-closes (FIN after the
 * answer) and closes only when the body has all arrived, or `maxBytes` were discarded, or
 * `maxMs` passed.
 */
function lingerOnClose(incoming: IncomingMessage, limits: Required<Linger>): void {
  const socket = incoming.socket
  let discarded = 0
  let answered = false
  let closed = false
  let timer: NodeJS.Timeout | undefined
  const close = () => {
    if (closed) return
    closed = true
    clearTimeout(timer)
    incoming.off('data', count)
    Socket.prototype.destroySoon.call(socket)
  }
  const count = (chunk: Buffer) => {
    discarded += chunk.length
    if (answered && discarded > limits.maxBytes) close()
  }
  // Reading starts before the answer is written: Node would otherwise drop the body unread
  // (`req._dump()`), and bytes dropped there cannot be counted.
  discardUnread(incoming)
  incoming.on('data', count)
  incoming.once('end', () => answered && close())
  // Node's server ends a `Connection: close` answer by calling `socket.destroySoon()`: FIN, and
  // close as soon as the answer is flushed, with the body still arriving. For this socket,
  // "soon" means after lingering.
  socket.destroySoon = () => {
    answered = true
    socket.end()
    if (incoming.readableEnded || discarded > limits.maxBytes) {
      close()
      return
    }
    timer = setTimeout(close, limits.maxMs)
    timer.unref()
  }
  socket.once('close', () => clearTimeout(timer))
}

const discarding = new WeakSet<IncomingMessage>()

/**
 * Lets the rest of a request body flow, unread, so that Node's parser reaches the end of the
 * request (and the next one on the connection). Node does this itself (`req._dump()`) only for a
 * body nobody began to read; the app's reader (Readable.toWeb) pauses the body whenever its queue
 * is full, and no one reads that queue once the answer is out.
 */
function discardUnread(incoming: IncomingMessage): void {
  if (incoming.readableEnded || incoming.destroyed || discarding.has(incoming)) return
  discarding.add(incoming)
  incoming.removeAllListeners('data')
  incoming.resume()
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
