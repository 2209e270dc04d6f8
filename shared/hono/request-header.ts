import type { IncomingMessage } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'

/**
 * A request header, read without building WHATWG objects. On @hono/node-server `c.req.header()`
 * makes the adapter build a WHATWG `Headers` from Node's raw headers the first time any header is
 * read (undici checks every name and value; with Hono's response `Headers` it was a tenth of a
 * small route's CPU, see BENCHMARKS.md); Node has already parsed the headers into
 * `c.env.incoming.headers`, so they are read there. Repeated headers read
 * as Node joins them (`, `), which is what `Headers.get` answers too. Elsewhere (a Worker,
 * `app.request()` in a test) it is `c.req.header(name)`.
 *
 * @param name the header's name in lower case
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming?.headers === undefined) return c.req.header(name)
  const value = incoming.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * Middleware that makes `c.req.header(name)` read Node's parsed headers ({@link requestHeader})
 * for the rest of the request, so that no handler, validator or middleware after it builds a
 * WHATWG `Headers` to read one header (Hono's validator reads `Content-Type` for every target, a
 * query's included). `c.req.header()` without a name still answers every header. Elsewhere than
 * on @hono/node-server it changes nothing.
 */
export function nodeHeaders(): MiddlewareHandler {
  return async function readNodeHeaders(c, next) {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
    if (incoming?.headers !== undefined) {
      const request = c.req
      const every = request.header.bind(request)
      const header = (name?: string) =>
        name === undefined ? every() : requestHeader(c, name.toLowerCase())
      request.header = header as typeof request.header
    }
    await next()
  }
}
