import { randomUUID } from 'node:crypto'
import type { HttpBindings } from '@hono/node-server'
import type { MiddlewareHandler } from 'hono'
import { requestHeader } from 'lakebase-broker/hono'

export type RequestIdEnv = { Variables: { requestId: string } }

/** An id a client may choose: letters, digits, `_`, `-`, `=`, as hono/request-id takes. */
const CLIENT_ID = /^[\w\-=]+$/

/**
 * `X-Request-Id` on every answer: the client's own when it is short and plain, else a new UUID;
 * the route reads it as `c.var.requestId`. The same rule as `hono/request-id`, cheaper on Node:
 * the header is read from Node's parsed headers ({@link requestHeader}) and set on Node's
 * response, where Node merges it into the head the adapter writes. Set with `c.header()` it would
 * give every answer a WHATWG `Headers` to build and then convert back (see BENCHMARKS.md).
 */
export function requestIds({ maxLength }: { maxLength: number }): MiddlewareHandler<RequestIdEnv> {
  return async function requestId(c, next) {
    const asked = requestHeader(c, 'x-request-id')
    const id =
      asked !== undefined && asked.length <= maxLength && CLIENT_ID.test(asked)
        ? asked
        : randomUUID()
    c.set('requestId', id)
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing
    if (outgoing === undefined) c.header('X-Request-Id', id)
    else outgoing.setHeader('X-Request-Id', id)
    await next()
  }
}
