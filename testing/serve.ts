import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getResponse, type HttpHandler } from 'msw'

/** A real listening socket in front of a mock workspace's handlers. */
export interface MockWorkspaceServer {
  /** The URL it listens on (the workspace's host). */
  url: string
  close(): Promise<void>
}

/**
 * Serves MSW handlers on a real loopback socket, for code that MSW cannot intercept: a broker
 * started as a child process, or a client in another runtime. `host` must be
 * `http://127.0.0.1:<port>` (pick the port with test/support/free-port.ts), since the handlers
 * match on it.
 */
export async function serveMockWorkspace(
  host: string,
  handlers: HttpHandler[],
): Promise<MockWorkspaceServer> {
  const url = new URL(host)
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1' || url.port === '') {
    throw new Error(`listen() needs a host like http://127.0.0.1:<port>, not ${host}`)
  }
  const server = createServer((req, res) => {
    toFetchRequest(host, req)
      .then((request) => getResponse(handlers, request))
      .then(async (response) => {
        if (response === undefined) {
          res.writeHead(404, { 'Content-Type': 'application/json' })
          res.end(
            JSON.stringify({
              error_code: 'ENDPOINT_NOT_FOUND',
              message: `no mock for ${req.method} ${req.url}`,
            }),
          )
          return
        }
        // HttpResponse.error(): drop the connection, as a network failure would.
        if (response.type === 'error') {
          req.socket.destroy()
          return
        }
        res.writeHead(response.status, Object.fromEntries(response.headers))
        res.end(Buffer.from(await response.arrayBuffer()))
      })
      .catch(() => {
        res.writeHead(500)
        res.end()
      })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(Number(url.port), '127.0.0.1', () => resolve())
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function toFetchRequest(host: string, req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(new URL(req.url ?? '/', host), {
    method: req.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  })
}
