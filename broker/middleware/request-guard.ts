import type { MiddlewareHandler } from 'hono'
import { AppError } from '../../shared/errors.js'
import { isLoopbackHost } from '../../shared/loopback.js'

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

function forbidden(message: string): AppError {
  return new AppError(403, 'BROKER_FORBIDDEN', message)
}

/**
 * Refuses what a local credential endpoint must never answer: a `Host` that is not loopback or
 * configured (DNS rebinding), a request that passed through a proxy (`X-Forwarded-For`,
 * `Forwarded`: SSRF), and a browser's cross-site request (`Origin`, `Sec-Fetch-Site`).
 */
export function requestGuard(options: RequestGuardOptions = {}): MiddlewareHandler {
  const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()))
  const hostAllowed = (name: string) => isLoopbackHost(name) || allowed.has(name)

  return async function guardRequest(c, next) {
    const host = c.req.header('host')
    if (!host || !hostAllowed(hostName(host))) {
      throw forbidden('the Host header must name loopback or the configured broker host')
    }
    if (c.req.header('x-forwarded-for') !== undefined || c.req.header('forwarded') !== undefined) {
      throw forbidden('requests through a proxy (X-Forwarded-For) are refused')
    }
    const site = c.req.header('sec-fetch-site')
    if (site === 'cross-site' || site === 'same-site') {
      throw forbidden('cross-site browser requests are refused')
    }
    const origin = c.req.header('origin')
    if (origin !== undefined && !originAllowed(origin, hostAllowed)) {
      throw forbidden('cross-origin requests are refused')
    }
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
