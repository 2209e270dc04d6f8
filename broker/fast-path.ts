import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { CredentialEndpoint } from './credential-endpoint.js'
import type { GuardedHeaders } from './middleware/request-guard.js'

const PREFIX = '/v1/credentials'

type Scanned = GuardedHeaders & { authorization: string | undefined }

/**
 * The broker's cache hit answered on `node:http` itself, in front of Hono.
 *
 * Why: a hit is the broker's whole job, and through Hono's Node adapter it costs a WHATWG
 * Request, a Headers object, a router match, three middlewares and a Response, several times the
 * work of the answer itself (BENCHMARKS.md: a hit at 135 µs of CPU against 28–34 µs for a bare
 * Hono route). Here it is a scan of the raw headers, one SHA-256 of the token, a few Map lookups,
 * and prebuilt bytes.
 *
 * Only a request this path is sure of is answered here: `GET /v1/credentials[/{target}]` with no
 * query, each header the guard or auth reads present at most once, the guard's checks passed (the
 * same function the Hono middleware calls), a known token allowed that target, and a credential
 * the cache hands out now. Everything else — every refusal, every error, a cold cache — goes on to
 * Hono, which decides and answers it in full. So this path never answers what Hono would refuse,
 * and never refuses anything itself.
 */
export function credentialFastPath(
  endpoint: CredentialEndpoint,
  refusal: (headers: GuardedHeaders) => string | undefined,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  // The exact paths of the configured targets; any other path (a query, an encoding, an unknown
  // name) is the full route's to answer.
  const targets = new Map<string, string>()
  for (const name of endpoint.targets.keys()) targets.set(`${PREFIX}/${name}`, name)
  if (endpoint.targets.has('default')) targets.set(PREFIX, 'default')
  // Requests are handled one at a time on this thread: one scratch record serves them all.
  const headers: Scanned = {
    host: undefined,
    authorization: undefined,
    forwardedFor: undefined,
    forwarded: undefined,
    secFetchSite: undefined,
    origin: undefined,
  }

  return function answerHit(req, res) {
    if (req.method !== 'GET' || req.url === undefined) return false
    const target = targets.get(req.url)
    if (target === undefined) return false
    if (!scan(req.rawHeaders, headers) || refusal(headers) !== undefined) return false
    const caller = endpoint.clients.caller(headers.authorization)
    if (caller === undefined) return false
    const answer = endpoint.hit(caller, target)
    if (answer === undefined) return false
    res.writeHead(200, answer.headers)
    res.end(answer.bytes)
    return true
  }
}

/**
 * Reads the six headers the guard and auth read from Node's raw list, in one pass, into `out`;
 * false when one of them is repeated (the full route then sees them joined, as a WHATWG Headers
 * does, and decides) or the request is on behalf of a user (the full route's to answer).
 */
function scan(raw: string[], out: Scanned): boolean {
  out.host = undefined
  out.authorization = undefined
  out.forwardedFor = undefined
  out.forwarded = undefined
  out.secFetchSite = undefined
  out.origin = undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    // Only names of a length the guard cares about are compared: 4, 6, 9, 13, 14, 15, and 21.
    switch (name.length) {
      case 21:
        // `x-lakebase-user-token`: a request on behalf of a user is never the app's cache hit.
        if (name.toLowerCase() === 'x-lakebase-user-token') return false
        break
      case 4:
        if (name.toLowerCase() !== 'host') break
        if (out.host !== undefined) return false
        out.host = value
        break
      case 6:
        if (name.toLowerCase() !== 'origin') break
        if (out.origin !== undefined) return false
        out.origin = value
        break
      case 9:
        if (name.toLowerCase() !== 'forwarded') break
        if (out.forwarded !== undefined) return false
        out.forwarded = value
        break
      case 13:
        if (name.toLowerCase() !== 'authorization') break
        if (out.authorization !== undefined) return false
        out.authorization = value
        break
      case 14:
        if (name.toLowerCase() !== 'sec-fetch-site') break
        if (out.secFetchSite !== undefined) return false
        out.secFetchSite = value
        break
      case 15:
        if (name.toLowerCase() !== 'x-forwarded-for') break
        if (out.forwardedFor !== undefined) return false
        out.forwardedFor = value
        break
    }
  }
  return true
}

/**
 * Puts `fast` in front of the server's request listeners (Hono's adapter): a request it answers
 * goes no further; any other reaches them unchanged.
 */
export function installFastPath(
  server: Server,
  fast: (req: IncomingMessage, res: ServerResponse) => boolean,
): void {
  const listeners = server.listeners('request') as Array<
    (req: IncomingMessage, res: ServerResponse) => void
  >
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (fast(req, res)) return
    for (const listener of listeners) listener.call(server, req, res)
  })
}
