import pMemoize from 'p-memoize'
import { type Clock, systemClock } from './clock.js'
import { type Credential, servedCredentialSchema } from './credential.js'
import { LakebaseError } from './errors.js'
import { traceRefresh, watchCredential } from './telemetry.js'

export const DEFAULT_BROKER_URL = 'http://127.0.0.1:8990'
/**
 * The broker answers from memory in well under a millisecond; 2 s means it is down or stuck.
 * Far below postgres.js's connect_timeout, so a database call never waits on it for long.
 */
export const BROKER_TIMEOUT_MS = 2_000
/**
 * A credential with less than this left is not used for a new login: the login itself and
 * clock skew between processes need a few seconds.
 */
export const CLIENT_MIN_TTL_MS = 5_000
/** `retry_after` when the broker is not listening: it may be restarting, which takes seconds. */
export const BROKER_UNREACHABLE_RETRY_AFTER_S = 1
/** Past the refresh point (broker stale or down), ask the broker again at most this often. */
export const RECHECK_INTERVAL_MS = 1_000
/**
 * The header that carries an end user's Databricks access token (what the Apps proxy forwards as
 * `X-Forwarded-Access-Token`) to the broker's `GET /v1/credentials/{target}` and its `/refresh`,
 * for a credential on that user's behalf (`forUser`). A header, never the URL: URLs end up in
 * access logs and proxies' histories.
 */
export const USER_TOKEN_HEADER = 'x-lakebase-user-token'

/** Header values are limited by servers to a few KB; a Databricks access token is about 1 KB. */
export const MAX_USER_TOKEN_CHARS = 8_192

/**
 * Whether `token` can be one access token carried on in a header (`Authorization: Bearer …`,
 * `X-Lakebase-User-Token`): 1 to {@link MAX_USER_TOKEN_CHARS} visible ASCII characters, no spaces.
 * Anything else is a client's mistake to answer with a 4xx: fetch and node:http refuse to send it.
 */
export function isAccessToken(token: string): boolean {
  return token.length > 0 && token.length <= MAX_USER_TOKEN_CHARS && /^[\x21-\x7e]+$/.test(token)
}
/**
 * `forUser` keeps the clients of this many most recent user tokens, so a user's requests share
 * one held credential; an older one is rebuilt on demand (one broker request).
 */
export const FOR_USER_MAX_CLIENTS = 256

export interface ConnectBrokerOptions {
  /** `http://host:port` or `unix:/path/to/socket`; `LAKEBASE_BROKER_URL`. */
  url: string
  /**
   * The client token; `LAKEBASE_BROKER_TOKEN` or the broker's token file. A function is asked
   * before each request to the broker until it gives one (a token file the broker writes later).
   */
  token: string | undefined | (() => Promise<string | undefined>)
  target?: string
  timeoutMs?: number
  clock?: Clock
  fetch?: typeof globalThis.fetch
}

/** A broker client: the current credential for one target, kept fresh. */
export interface BrokerCredentials {
  readonly target: string
  /**
   * A credential valid for at least {@link CLIENT_MIN_TTL_MS}: from memory until the broker's
   * refresh point, then from the broker (one request however many callers). Throws an LakebaseError
   * (503 `CREDENTIAL_UNAVAILABLE` or `LAKEBASE_NOT_CONFIGURED`) when there is none.
   */
  get(): Promise<Credential>
  /** The held credential if it is still valid, without any I/O. */
  current(): Credential | undefined
  /**
   * For a driver's password callback: never rejects. Without a valid credential it resolves
   * to an empty string, which Postgres refuses at once instead of a hung connection.
   */
  password(): Promise<string>
  /**
   * Postgres refused the held credential (28P01): drop it, and make the next `get` report it to
   * the broker (`POST /v1/credentials/{target}/refresh`), which mints a new one if it still holds
   * that one. `version` names the refused credential when this client does not hold it (a Worker
   * request's client, whose credential lives in the isolate); by default, the held one.
   */
  forget(version?: string): void
  /**
   * The same client, on behalf of an end user: credentials minted with `userToken` (the user's
   * Databricks access token, `X-Forwarded-Access-Token` behind the Apps proxy), for the user's own
   * Postgres role. The token travels to the broker in the `X-Lakebase-User-Token` header only.
   * Repeated calls with one token return one client. Absent on clients that cannot ask for users.
   */
  forUser?(userToken: string): BrokerCredentials
}

interface Held {
  credential: Credential
  expiresAt: number
  nextCheckAt: number
}

/** The memo's one key: a client serves one target. */
const CREDENTIAL = 'credential'

/**
 * A client for the broker's `GET /v1/credentials/{target}`, for any service or script.
 *
 * The fetch is memoized with p-memoize: its cache holds the credential until the broker's refresh
 * point (a `has` that reads the clock), concurrent callers share the one request in flight, and a
 * failed request is not kept, so the next call asks again.
 */
export function connectBroker(options: ConnectBrokerOptions): BrokerCredentials {
  const users = new Map<string, BrokerCredentials>()
  const client = connect(options, undefined)
  client.forUser = (userToken) => {
    const known = users.get(userToken)
    users.delete(userToken)
    const forUser = known ?? connect(options, userToken)
    users.set(userToken, forUser)
    for (const oldest of users.keys()) {
      if (users.size <= FOR_USER_MAX_CLIENTS) break
      users.delete(oldest)
    }
    return forUser
  }
  return client
}

/** One target's client; with `userToken`, on behalf of that user. */
function connect(options: ConnectBrokerOptions, userToken: string | undefined): BrokerCredentials {
  const target = options.target ?? 'default'
  const clock = options.clock ?? systemClock
  const timeoutMs = options.timeoutMs ?? BROKER_TIMEOUT_MS
  const request = transport(
    options.url,
    options.fetch ?? globalThis.fetch,
    userToken === undefined ? {} : { [USER_TOKEN_HEADER]: userToken },
  )
  const path = `/v1/credentials/${encodeURIComponent(target)}`
  const refreshPath = `${path}/refresh`
  let held: Held | undefined
  /** The version Postgres refused, until the broker has answered the report of it. */
  let refused: string | undefined

  const valid = (now: number) =>
    held && now < held.expiresAt - CLIENT_MIN_TTL_MS ? held : undefined

  /** p-memoize's cache: a hit while the held credential is valid, not refused, and not due. */
  const memo = {
    has: () => {
      const now = clock.now()
      const current = valid(now)
      return current !== undefined && refused === undefined && now < current.nextCheckAt
    },
    get: () => held?.credential,
    set: (_key: string, credential: Credential) => {
      const arrived = clock.now()
      held = {
        credential,
        expiresAt: Date.parse(credential.expiresAt),
        nextCheckAt: Math.max(Date.parse(credential.refreshAt), arrived + RECHECK_INTERVAL_MS),
      }
    },
    delete: () => {
      held = undefined
    },
  }
  let token = typeof options.token === 'function' ? undefined : options.token
  const tokenSource = typeof options.token === 'function' ? options.token : undefined

  async function fetchOnce(): Promise<Credential> {
    if (!token && tokenSource) token = await tokenSource()
    if (!token) {
      throw notConfigured(
        'no client token for the broker',
        'set LAKEBASE_BROKER_TOKEN or BROKER_TOKEN_FILE',
      )
    }
    const reported = refused
    let response: { status: number; body: string }
    try {
      response =
        reported === undefined
          ? await request(path, token, timeoutMs)
          : await request(refreshPath, token, timeoutMs, JSON.stringify({ refused: reported }))
    } catch (err) {
      if (isTimeout(err)) {
        throw new LakebaseError(
          503,
          'CREDENTIAL_UNAVAILABLE',
          `the credential broker did not answer within ${timeoutMs} ms`,
          {
            technicalDetails: { broker_url: options.url },
            retryAfter: 1,
          },
        )
      }
      throw notConfigured(
        `the credential broker at ${options.url} is not reachable`,
        'start it with `npm run broker` (or `npm start` for everything), or set LAKEBASE_BROKER_URL',
        // A broker that is restarting is back within seconds: worth asking again soon.
        BROKER_UNREACHABLE_RETRY_AFTER_S,
      )
    }
    if (response.status === 200) {
      const credential = parseCredential(response.body, options.url)
      // The broker has heard the report: what it answered is the credential to use, even when it
      // is the same one (its forced refreshes are rate-limited).
      if (refused === reported) refused = undefined
      return credential
    }
    throw brokerError(response, options.url)
  }

  const refresh = pMemoize(() => traceRefresh('client', target, fetchOnce), {
    cacheKey: () => CREDENTIAL,
    cache: memo,
  })

  const client: BrokerCredentials = {
    target,
    async get() {
      // A hit is answered here, before p-memoize: its hit path awaits the cache's `has` and `get`
      // (3.3 µs a call, against 0.7 µs here, measured with 1e6 calls), and the functions ask on
      // every query.
      if (memo.has() && held) return held.credential
      try {
        // p-memoize asks the cache `has`, then `get`, a microtask apart: a forget() in between
        // leaves nothing to get, and the second call then asks the broker.
        return (await refresh()) ?? (await refresh())
      } catch (err) {
        // Keep the last good credential while it is valid: the broker may be restarting.
        const still = valid(clock.now())
        if (still) {
          still.nextCheckAt = clock.now() + RECHECK_INTERVAL_MS
          return still.credential
        }
        throw err
      }
    },
    current() {
      return valid(clock.now())?.credential
    },
    async password() {
      try {
        return (await this.get()).password
      } catch {
        return ''
      }
    },
    forget(version) {
      const named = version ?? held?.credential.version
      // Once dropped, later calls from the same wave of failed logins change nothing: the report
      // of the first is the one that is sent.
      if (named !== undefined) refused = named
      // A newer one another caller fetched meanwhile stays: only the refused one goes.
      if (version === undefined || held?.credential.version === version) held = undefined
    },
  }
  watchCredential(client, { holder: 'client', target }, (c) => {
    const credential = c.current()
    return credential && Date.parse(credential.expiresAt)
  })
  return client
}

function parseCredential(body: string, url: string): Credential {
  let parsed: ReturnType<typeof servedCredentialSchema.safeParse> | undefined
  try {
    parsed = servedCredentialSchema.safeParse(JSON.parse(body))
  } catch {
    // Not JSON at all; reported below like any other malformed answer.
  }
  if (parsed?.success) return parsed.data
  throw new LakebaseError(
    503,
    'CREDENTIAL_UNAVAILABLE',
    'the credential broker sent a malformed credential',
    {
      technicalDetails: { broker_url: url },
      retryAfter: 1,
    },
  )
}

function notConfigured(
  message: string,
  suggestion: string,
  retryAfter: number | null = null,
): LakebaseError {
  return new LakebaseError(503, 'LAKEBASE_NOT_CONFIGURED', message, {
    technicalDetails: { error_type: 'ConfigurationError', suggestion },
    retryAfter,
  })
}

/** The broker's answers about a user's token or target on behalf of a user (not this client's). */
const USER_ERROR_CODES: ReadonlySet<string> = new Set([
  'USER_TOKEN_REJECTED',
  'USER_FORBIDDEN',
  'PER_USER_UNSUPPORTED',
])

function brokerError(response: { status: number; body: string }, url: string): LakebaseError {
  let detail: {
    error_code?: string
    message?: string
    technical_details?: Record<string, unknown>
    retry_after?: number | null
  } = {}
  try {
    detail = (JSON.parse(response.body) as { detail?: typeof detail }).detail ?? {}
  } catch {
    // Not the broker's error body; described by status below.
  }
  // About the end user, not this client: passed on as the broker said it (forUser only).
  if (detail.error_code !== undefined && USER_ERROR_CODES.has(detail.error_code)) {
    return new LakebaseError(
      response.status as 400 | 401 | 403,
      detail.error_code,
      detail.message ?? `the credential broker answered ${response.status}`,
      { technicalDetails: detail.technical_details ?? {} },
    )
  }
  if (response.status === 401 || response.status === 403) {
    return notConfigured(
      `the credential broker refused this client (${detail.error_code ?? response.status})`,
      'set LAKEBASE_BROKER_TOKEN to a token the broker accepts (BROKER_TOKEN or its token file)',
    )
  }
  if (response.status === 404) {
    return notConfigured(
      detail.message ?? 'the broker has no such target',
      'check the target name in the broker config',
    )
  }
  return new LakebaseError(
    503,
    'CREDENTIAL_UNAVAILABLE',
    detail.message ?? `the credential broker answered ${response.status}`,
    {
      technicalDetails: {
        broker_url: url,
        broker_status: response.status,
        ...detail.technical_details,
      },
      retryAfter: detail.retry_after ?? 1,
    },
  )
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
}

/** GET `path`, or POST `body` (JSON) to it. */
type Transport = (
  path: string,
  token: string,
  timeoutMs: number,
  body?: string,
) => Promise<{ status: number; body: string }>

function transport(
  url: string,
  fetchImpl: typeof globalThis.fetch,
  extraHeaders: Record<string, string>,
): Transport {
  if (url.startsWith('unix:')) return unixTransport(url.slice('unix:'.length), extraHeaders)
  const base = url.replace(/\/+$/, '')
  return async (path, token, timeoutMs, body) => {
    const headers: Record<string, string> = {
      ...extraHeaders,
      authorization: `Bearer ${token}`,
      accept: 'application/json',
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetchImpl(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    })
    return { status: response.status, body: await response.text() }
  }
}

function unixTransport(socketPath: string, extraHeaders: Record<string, string>): Transport {
  return async (path, token, timeoutMs, body) => {
    // Loaded lazily so that runtimes without node:http (Workers) never import it.
    const { request } = await import('node:http')
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath,
          path,
          method: body === undefined ? 'GET' : 'POST',
          headers: {
            ...extraHeaders,
            host: 'localhost',
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          },
          timeout: timeoutMs,
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            body += chunk
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => {
        const err = new Error('the broker did not answer in time')
        err.name = 'TimeoutError'
        req.destroy(err)
      })
      req.on('error', reject)
      req.end(body)
    })
  }
}
