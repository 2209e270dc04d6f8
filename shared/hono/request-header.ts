import type { IncomingMessage } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'

/**
 * Headers Node keeps only the first of when repeated, where `Headers.get` joins every copy with
 * `, `: read from the raw headers instead. Node's list: `IncomingMessage`'s `_addHeaderLine`
 * (node:_http_incoming). (`cookie` copies both join with `; `.)
 */
const NODE_SINGLE_HEADERS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
])

/**
 * The Node message behind `c.req.raw` when reading it gives what `c.req.raw.headers` would:
 * `c.req.raw` is @hono/node-server's own request for `c.env.incoming` (not a request the app
 * rebuilt, with other headers, and passed on with the same `env`), and the adapter has not built
 * its `Headers` yet (once built, they may have been changed; they are then read instead). The
 * adapter keeps the message under a symbol named `incomingKey` and the `Headers` it builds under
 * `headersKey` (the full `Request` under `requestCache`); if it ever names them otherwise, this
 * finds no message and every read is `c.req.header()`, as before.
 */
function pristineMessage(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming?.headers === undefined) return undefined
  const raw = c.req.raw as unknown as Record<symbol, unknown>
  let own = false
  for (const key of Object.getOwnPropertySymbols(raw)) {
    const name = key.description
    if (name === 'headersKey' || name === 'requestCache') return undefined
    if (name === 'incomingKey') own = raw[key] === incoming
  }
  return own ? incoming : undefined
}

/**
 * A request header, read without building WHATWG objects: `Headers.get(name)`'s answer. On
 * @hono/node-server `c.req.header()` makes the adapter build a WHATWG `Headers` from Node's raw
 * headers the first time any header is read (undici checks every name and value; with Hono's
 * response `Headers` it was a tenth of a small route's CPU, see BENCHMARKS.md); Node has already
 * parsed them, so they are read there while that gives the same answer (see `pristineMessage`).
 * Repeated headers are joined as `Headers.get` joins them (`, `; `; ` for `cookie`). Elsewhere (a Worker,
 * `app.request()` in a test, a rebuilt request) it is `c.req.raw.headers.get(name)`, as Hono reads it.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = pristineMessage(c)
  // What Hono's own `c.req.header(name)` reads (not `c.req.header`, which nodeHeaders replaces).
  if (incoming === undefined) return c.req.raw.headers.get(name) ?? undefined
  const lower = name.toLowerCase()
  if (!NODE_SINGLE_HEADERS.has(lower)) {
    const value = incoming.headers[lower]
    return Array.isArray(value) ? value.join(', ') : value
  }
  const raw = incoming.rawHeaders
  let joined: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string
    if (key.length === lower.length && key.toLowerCase() === lower) {
      const value = raw[i + 1] as string
      joined = joined === undefined ? value : `${joined}, ${value}`
    }
  }
  return joined
}

/**
 * Middleware that makes `c.req.header(name)` read {@link requestHeader} for the rest of the
 * request, so that no handler, validator or middleware after it builds a WHATWG `Headers` to read
 * one header (Hono's validator reads `Content-Type` for every target, a query's included).
 * `c.req.header()` without a name still answers every header. Elsewhere than on @hono/node-server
 * it changes nothing.
 */
export function nodeHeaders(): MiddlewareHandler {
  return async function readNodeHeaders(c, next) {
    if ((c.env as { incoming?: IncomingMessage } | undefined)?.incoming !== undefined) {
      const request = c.req
      const every = request.header.bind(request)
      // Hono answers every header for any falsy name.
      const header = (name?: string) => (name ? requestHeader(c, name) : every())
      request.header = header as typeof request.header
    }
    await next()
  }
}
