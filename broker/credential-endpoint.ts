import type { Credential } from '../shared/client/credential.js'
import type { ClientConfig } from './config.js'
import type { CachedCredential } from './credential-cache.js'
import type { BrokerMetrics } from './metrics.js'
import { type ClientTable, mayRead } from './middleware/client-auth.js'
import type { ServedTarget } from './served-target.js'
import { RequestWindow } from './status/request-window.js'

type Increment = { inc(): void }

const encoder = new TextEncoder()

/** A credential answer, built once per credential and sent as is. */
export interface Answer {
  bytes: Uint8Array
  headers: Readonly<Record<'content-type' | 'cache-control' | 'content-length', string>>
}

/**
 * What answering a credential request needs, shared by the Hono routes and the node:http fast
 * path: the served targets (caches and read-only companions), the client table, and the counting. The bytes of each credential's answer
 * are built once per credential (the cache hands out the same object until it holds a new one
 * or it turns stale), and each (caller, target, status) counter is bound once, so a cache hit
 * costs a few lookups and increments.
 */
export class CredentialEndpoint {
  readonly requestsByCaller: RequestWindow
  private readonly answers = new WeakMap<CachedCredential, Answer>()
  private readonly counters = new Map<ClientConfig, Map<string, Increment>>()

  constructor(
    readonly targets: ReadonlyMap<string, ServedTarget>,
    readonly clients: ClientTable,
    private readonly metrics: BrokerMetrics,
    now: () => number,
  ) {
    this.requestsByCaller = new RequestWindow(now)
  }

  /**
   * The answer when `caller` may read `target` and its cache holds a credential to hand
   * out now; counted as a 200. Undefined otherwise: the full route then decides and explains.
   */
  hit(caller: ClientConfig, target: string): Answer | undefined {
    const served = this.targets.get(target)
    if (served === undefined || !mayRead(caller, target, served.primary)) return undefined
    const cached = served.peek()
    if (cached === undefined) return undefined
    this.count(caller, target, '200')
    return this.answer(target, cached)
  }

  /** The JSON body for `cached`, built on first use. */
  body(target: string, cached: CachedCredential): Uint8Array {
    return this.answer(target, cached).bytes
  }

  /**
   * The answer for `cached`: its bytes and its headers, Content-Length included, built on first
   * use. The headers object is handed to the HTTP layer as is, so it must be complete: Hono's Node
   * adapter adds a missing Content-Length to the object it is given, which, shared, would carry
   * one answer's length into the next.
   */
  answer(target: string, cached: CachedCredential): Answer {
    let answer = this.answers.get(cached)
    if (answer === undefined) {
      // Its own ArrayBuffer, not a slice of Buffer's shared pool, which a Response could send whole.
      const bytes = encoder.encode(JSON.stringify(served(target, cached)))
      answer = {
        bytes,
        headers: {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'content-length': String(bytes.byteLength),
        },
      }
      this.answers.set(cached, answer)
    }
    return answer
  }

  /** One request by `caller` for `target`, answered `status`: the metric and the status window. */
  count(caller: ClientConfig, target: string, status: string): void {
    this.requestsByCaller.record(caller.name)
    let byKey = this.counters.get(caller)
    if (byKey === undefined) {
      byKey = new Map()
      this.counters.set(caller, byKey)
    }
    // A name no target has is one label, so a caller cannot grow the series without bound.
    const label = this.targets.has(target) ? target : '(unknown)'
    const key = status === '200' ? label : `${status} ${label}`
    let counter = byKey.get(key)
    if (counter === undefined) {
      counter = this.metrics.requestCounter({ caller: caller.name, target: label, status })
      byKey.set(key, counter)
    }
    counter.inc()
  }
}

/** The body of a credential answer, as the contract writes it. */
export function served(target: string, cached: CachedCredential): Credential {
  const { credential } = cached
  return {
    target,
    user: credential.user,
    password: credential.password,
    host: credential.host,
    port: credential.port,
    database: credential.database,
    ssl: credential.ssl,
    expiresAt: credential.expiresAt.toISOString(),
    refreshAt: new Date(cached.refreshAt).toISOString(),
    stale: cached.stale,
    source: credential.source,
    version: cached.version,
    ...(cached.retryAfterS === undefined ? {} : { retryAfter: cached.retryAfterS }),
    ...(cached.upstreamError === undefined
      ? {}
      : {
          upstreamError: {
            errorClass: cached.upstreamError.errorClass,
            kind: cached.upstreamError.kind,
            message: cached.upstreamError.message,
            fix: cached.upstreamError.fix,
            at: new Date(cached.upstreamError.at).toISOString(),
          },
        }),
  }
}
