import { connectionReset } from './mock-workspace/connection-reset.js'

/** What MSW does with a request that no handler took: fail it, warn about it, or let it through. */
export type UnhandledStrategy = 'error' | 'warn' | 'bypass'

/** msw 2's per-request callback (`onUnhandledRequest`). */
type RequestCallback = (request: Request, print: { warning(): void; error(): void }) => void

/** msw 3's per-frame callback (`onUnhandledFrame`); a frame over HTTP carries its request. */
type FrameCallback = (args: {
  frame: unknown
  defaults: { warn(): unknown; error(): unknown }
}) => Promise<void> | undefined

/** `server.listen()` options understood by msw 2 and msw 3 alike; each ignores the other's key. */
export interface UnhandledOptions {
  onUnhandledRequest: RequestCallback
  onUnhandledFrame: FrameCallback
}

/**
 * `server.listen()` options that treat a request no handler took the same way on msw 2 and msw 3:
 * msw 3 reads only `onUnhandledFrame`, msw 2 only `onUnhandledRequest` (each ignores the other's
 * key, and an unhandled request then goes to the real network). In a callback, `print.error()`
 * (msw 2) and `defaults.error()` (msw 3) only print, so an `'error'` here also fails the request
 * as a dropped connection (fetch rejects with a TypeError), as the plain `'error'` strategy does.
 * Give one strategy, or a function that picks one per request (say, loopback passes through and
 * everything else fails).
 *
 * @example
 * const server = setupServer()
 * server.listen(onUnhandled('error'))
 */
export function onUnhandled(
  handle: UnhandledStrategy | ((request: Request) => UnhandledStrategy),
): UnhandledOptions {
  const decide = typeof handle === 'function' ? handle : () => handle
  return {
    onUnhandledRequest(request, print) {
      const strategy = decide(request)
      if (strategy === 'warn') print.warning()
      else if (strategy === 'error') {
        print.error()
        throw connectionReset()
      }
    },
    onUnhandledFrame({ frame, defaults }) {
      const request = (frame as { data?: { request?: unknown } }).data?.request
      // Frames that are not HTTP requests (WebSocket connections) fail unless the strategy is fixed.
      const strategy =
        request instanceof Request ? decide(request) : typeof handle === 'string' ? handle : 'error'
      if (strategy === 'warn') return Promise.resolve(defaults.warn()).then(() => {})
      if (strategy === 'error') {
        return Promise.resolve(defaults.error()).then(() => {
          throw connectionReset()
        })
      }
      return undefined
    },
  }
}
