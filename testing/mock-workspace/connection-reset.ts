import { HttpResponse } from 'msw'

/**
 * A dropped connection, as MSW makes one: fetch rejects with `TypeError: Failed to fetch`, and
 * the loopback server destroys the socket. MSW recognises `HttpResponse.error()` by checking it
 * against the global `Response` class, which `@hono/node-server` replaces with its own in any
 * process that serves HTTP (a broker in the test's process); the same network error is then
 * presented under that class, or MSW would pass it on as a response with status 0.
 */
export function connectionReset(): Response {
  const error = HttpResponse.error()
  if (error instanceof globalThis.Response) return error
  const fields = {
    type: 'error',
    status: 0,
    statusText: '',
    ok: false,
    redirected: false,
    url: '',
    headers: new Headers(),
    body: null,
    bodyUsed: false,
  }
  const properties = Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, { value, enumerable: true }]),
  )
  const reset = Object.create(globalThis.Response.prototype, properties) as Response
  Object.defineProperty(reset, 'clone', { value: () => reset })
  return reset
}
