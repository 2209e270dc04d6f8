import type { MiddlewareHandler } from 'hono'
import { LakebaseError } from '../../shared/client/errors.js'
import { isLoopbackHost } from '../../shared/client/loopback.js'

export interface RequestGuardOptions {
  /** Host names accepted besides loopback (lower case, without port). */
  allowedHosts?: readonly string[]
}

/** The host name of a `Host` header value, without port or IPv6 brackets, lower case. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase()
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']'))
  const colon = value.lastIndexOf(':')
  return colon === -1 ? value : value.slice(0, colon)
}

function forbidden(message: string): LakebaseError {
  return new LakebaseError(403, 'BROKER_FORBIDDEN', message)
}

/** The headers the guard reads; nothing else of a request matters to it. */
export interface GuardedHeaders {
  host: string | undefined
  forwardedFor: string | undefined
  forwarded: string | undefined
  secFetchSite: string | undefined
  origin: string | undefined
}

/** How many distinct `Host` values the guard remembers its verdict on (a bound, not a cache size goal). */
const HOST_VERDICTS_MAX = 64

/**
 * The guard's decision as a pure function of the five headers it reads: the reason to refuse,
 * or undefined to let the request through. Shared by the Hono middleware and the broker's
 * node:http fast path, so both refuse exactly the same requests.
 */
export function guard(options: RequestGuardOptions = {}) {
  const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()))
  const hostAllowed = (name: string) => isLoopbackHost(name) || allowed.has(name)
  // Clients send one or two Host values; remembering the verdict saves parsing each request's.
  const hostVerdicts = new Map<string, boolean>()
  const hostHeaderAllowed = (host: string) => {
    let verdict = hostVerdicts.get(host)
    if (verdict === undefined) {
      verdict = hostAllowed(hostName(host))
      if (hostVerdicts.size < HOST_VERDICTS_MAX) hostVerdicts.set(host, verdict)
    }
    return verdict
  }
  return function refusal(h: GuardedHeaders): string | undefined {
    if (!h.host || !hostHeaderAllowed(h.host)) {
      return 'the Host header must name loopback or the configured broker host'
    }
    if (h.forwardedFor !== undefined || h.forwarded !== undefined) {
      return 'requests through a proxy (X-Forwarded-For) are refused'
    }
    const site = h.secFetchSite
    if (site === 'cross-site' || site === 'same-site')
      return 'cross-site browser requests are refused'
    if (h.origin !== undefined && !originAllowed(h.origin, hostAllowed)) {
      return 'cross-origin requests are refused'
    }
    return undefined
  }
}

/**
 * Refuses what a local credential endpoint must never answer: a `Host` that is not loopback or
 * configured (DNS rebinding), a request that passed through a proxy (`X-Forwarded-For`,
 * `Forwarded`: SSRF), and a browser's cross-site request (`Origin`, `Sec-Fetch-Site`).
 */
export function requestGuard(options: RequestGuardOptions = {}): MiddlewareHandler {
  const refusal = guard(options)
  return async function guardRequest(c, next) {
    const reason = refusal({
      host: c.req.header('host'),
      forwardedFor: c.req.header('x-forwarded-for'),
      forwarded: c.req.header('forwarded'),
      secFetchSite: c.req.header('sec-fetch-site'),
      origin: c.req.header('origin'),
    })
    if (reason !== undefined) throw forbidden(reason)
    await next()
  }
}

function originAllowed(origin: string, hostAllowed: (name: string) => boolean): boolean {
  try {
    return hostAllowed(hostName(new URL(origin).host))
  } catch {
    return false
  }
}
