import { type Clock, systemClock } from './clock.js'
import { type ServedCredential, servedCredentialSchema } from './credential.js'
import { AppError } from './errors.js'
import { singleFlight } from './single-flight.js'

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

export interface BrokerClientOptions {
  /** `http://host:port` or `unix:/path/to/socket`; `LAKEBASE_BROKER_URL`. */
  url: string
  /** The client token; `LAKEBASE_BROKER_TOKEN` or the broker's token file. */
  token: string | undefined
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
   * refresh point, then from the broker (one request however many callers). Throws an AppError
   * (503 `CREDENTIAL_UNAVAILABLE` or `LAKEBASE_NOT_CONFIGURED`) when there is none.
   */
  get(): Promise<ServedCredential>
  /** The held credential if it is still valid, without any I/O. */
  current(): ServedCredential | undefined
  /**
   * For a driver's password callback: never rejects. Without a valid credential it resolves
   * to an empty string, which Postgres refuses at once instead of a hung connection.
   */
  password(): Promise<string>
  /** Forget the held credential (e.g. Postgres said 28P01): the next `get` asks the broker. */
  forget(): void
}

interface Held {
  credential: ServedCredential
  expiresAt: number
  nextCheckAt: number
}

/** A client for the broker's `GET /v1/credentials/{target}`, for any service or script. */
export function brokerCredentials(options: BrokerClientOptions): BrokerCredentials {
  const target = options.target ?? 'default'
  const clock = options.clock ?? systemClock
  const timeoutMs = options.timeoutMs ?? BROKER_TIMEOUT_MS
  const request = transport(options.url, options.fetch ?? globalThis.fetch)
  const path = `/v1/credentials/${encodeURIComponent(target)}`
  let held: Held | undefined

  const valid = (now: number) =>
    held && now < held.expiresAt - CLIENT_MIN_TTL_MS ? held : undefined

  async function fetchOnce(): Promise<ServedCredential> {
    if (!options.token) {
      throw notConfigured(
        'no client token for the broker',
        'set LAKEBASE_BROKER_TOKEN or BROKER_TOKEN_FILE',
      )
    }
    const started = clock.now()
    let response: { status: number; body: string }
    try {
      response = await request(path, options.token, timeoutMs)
    } catch (err) {
      if (isTimeout(err)) {
        throw new AppError(
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
      const refreshAt = Date.parse(credential.refreshAt)
      held = {
        credential,
        expiresAt: Date.parse(credential.expiresAt),
        nextCheckAt: Math.max(refreshAt, started + RECHECK_INTERVAL_MS),
      }
      return credential
    }
    throw brokerError(response, options.url)
  }

  const refresh = singleFlight(fetchOnce)

  return {
    target,
    async get() {
      const now = clock.now()
      const current = valid(now)
      if (current && now < current.nextCheckAt) return current.credential
      try {
        return await refresh()
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
    forget() {
      held = undefined
    },
  }
}

function parseCredential(body: string, url: string): ServedCredential {
  let parsed: ReturnType<typeof servedCredentialSchema.safeParse> | undefined
  try {
    parsed = servedCredentialSchema.safeParse(JSON.parse(body))
  } catch {
    // Not JSON at all; reported below like any other malformed answer.
  }
  if (parsed?.success) return parsed.data
  throw new AppError(
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
): AppError {
  return new AppError(503, 'LAKEBASE_NOT_CONFIGURED', message, {
    technicalDetails: { error_type: 'ConfigurationError', suggestion },
    retryAfter,
  })
}

function brokerError(response: { status: number; body: string }, url: string): AppError {
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
  return new AppError(
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

type Transport = (
  path: string,
  token: string,
  timeoutMs: number,
) => Promise<{ status: number; body: string }>

function transport(url: string, fetchImpl: typeof globalThis.fetch): Transport {
  if (url.startsWith('unix:')) return unixTransport(url.slice('unix:'.length))
  const base = url.replace(/\/+$/, '')
  return async (path, token, timeoutMs) => {
    const response = await fetchImpl(`${base}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    })
    return { status: response.status, body: await response.text() }
  }
}

function unixTransport(socketPath: string): Transport {
  return async (path, token, timeoutMs) => {
    // Loaded lazily so that runtimes without node:http (Workers) never import it.
    const { request } = await import('node:http')
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath,
          path,
          headers: {
            host: 'localhost',
            authorization: `Bearer ${token}`,
            accept: 'application/json',
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
      req.end()
    })
  }
}
