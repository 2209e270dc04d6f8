import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { Logger } from 'pino'
import { refusalSchema } from '../shared/client/credential.js'
import { LakebaseError } from '../shared/client/errors.js'
import { errorHandler, notFoundHandler } from '../shared/process/error-handler.js'
import type { ClientConfig } from './config.js'
import {
  type CachedCredential,
  type CredentialCache,
  CredentialUnavailableError,
  type TargetStatus,
} from './credential-cache.js'
import { CredentialEndpoint } from './credential-endpoint.js'
import type { BrokerMetrics } from './metrics.js'
import { type ClientAuthEnv, ClientTable, clientAuth, mayRead } from './middleware/client-auth.js'
import { requestGuard } from './middleware/request-guard.js'
import { PerUserCredentials } from './per-user/per-user-credentials.js'
import { USER_TOKEN_HEADER } from './per-user/user-token.js'
import type { PgbouncerStatus } from './pgbouncer/pgbouncer.js'
import { NoReadOnlyHostError, type ReadOnlyCompanion } from './read-only-companion.js'
import type { ServedTarget } from './served-target.js'

/** A refusal report is `{"refused":"<version>"}`: a few dozen bytes; anything larger is not one. */
export const REFUSAL_BODY_MAX_BYTES = 1_024

export interface BrokerAppOptions {
  /** The targets with a credential of their own; `/readyz` waits for these. */
  caches: ReadonlyMap<string, CredentialCache>
  /**
   * Read-only companions (`<target>-ro`), served from their primaries' caches; `/readyz` does
   * not wait for them beyond their primaries.
   * @default none
   */
  companions?: ReadonlyMap<string, ReadOnlyCompanion>
  clients: readonly ClientConfig[]
  allowedHosts: readonly string[]
  metrics: BrokerMetrics
  logger: Logger
  /** True once shutdown began: `/readyz` answers 503. */
  draining: () => boolean
  /** Serve the status page at `/` and `/status.json` (`BROKER_STATUS_PAGE`, default true). */
  statusPage?: boolean
  /**
   * Whether the status page, `/status.json` and `/metrics` are open to whoever reaches the broker:
   * true on loopback or a unix socket (this machine's users). Elsewhere they show role names,
   * hosts, callers and upstream errors to the network, so they need a client token, and
   * `/readyz` answers no more than whether the broker is ready.
   * @default true
   */
  openStatus?: boolean
  now?: () => number
  /**
   * Credentials on behalf of end users, asked when a request carries `X-Lakebase-User-Token`.
   * @default none: such a request gets 400 `PER_USER_UNSUPPORTED`
   */
  perUser?: PerUserCredentials
  /** Shared with the node:http fast path, so both count into the same metrics and window. */
  endpoint?: CredentialEndpoint
  /** The local PgBouncer's state, for the status page, when the broker runs one. */
  pgbouncer?: (() => PgbouncerStatus) | undefined
}

/** The status page is loaded on its first request: a broker nobody looks at never pays for it. */
const loadStatus = async () => {
  const [{ statusRoutes }, { statusView }] = await Promise.all([
    import('./status/routes.js'),
    import('./status/status-json.js'),
  ])
  return { statusRoutes, statusView }
}

/** The broker's HTTP surface: the credential endpoint and its health and metrics routes. */
export function createBrokerApp(options: BrokerAppOptions): Hono<ClientAuthEnv> {
  const { caches, metrics, logger } = options
  const companions = options.companions ?? new Map<string, ReadOnlyCompanion>()
  const now = options.now ?? Date.now
  const endpoint =
    options.endpoint ??
    new CredentialEndpoint(
      new Map<string, ServedTarget>([...caches, ...companions]),
      new ClientTable(options.clients),
      metrics,
      now,
    )
  const requestsByCaller = endpoint.requestsByCaller
  const perUser = options.perUser ?? new PerUserCredentials()
  const app = new Hono<ClientAuthEnv>()

  app.use(async function noStore(c, next) {
    // Set before the handler answers, so Hono builds the response with it. Set afterwards, it
    // would turn every response into a stream (@hono/node-server's slow path: 2x CPU per request).
    c.header('Cache-Control', 'no-store')
    await next()
  })
  app.use(requestGuard({ allowedHosts: options.allowedHosts }))

  app.get('/healthz', (c) => c.json({ status: 'ok' }))

  const open = options.openStatus ?? true
  /** What the network may see only with a client token, when the broker listens beyond loopback. */
  const statusAuth: MiddlewareHandler<ClientAuthEnv> = open
    ? async (_c, next) => {
        await next()
      }
    : clientAuth(endpoint.clients)

  app.get('/readyz', (c) => {
    const targets = [...caches.values()].map((cache) => readiness(cache.status(), now()))
    const draining = options.draining()
    const ready = !draining && targets.every((t) => t.valid)
    return c.json(open ? { ready, draining, targets } : { ready }, ready ? 200 : 503)
  })

  app.get('/metrics', statusAuth, async (c) => {
    c.header('Content-Type', metrics.registry.contentType)
    return c.body(await metrics.registry.metrics())
  })

  if (options.statusPage ?? true) {
    let status: Promise<Hono> | undefined
    const routes = () => {
      status ??= loadStatus().then(({ statusRoutes, statusView }) =>
        statusRoutes(() =>
          statusView({
            statuses: [
              ...[...caches.values()].map((cache) => cache.status()),
              ...[...companions.values()].flatMap((companion) => companion.status() ?? []),
            ],
            callers: requestsByCaller.snapshot(),
            draining: options.draining(),
            now: now(),
            pgbouncer: options.pgbouncer?.(),
          }),
        ),
      )
      return status
    }
    const page = async (c: Context) => {
      const response = await (await routes()).fetch(c.req.raw, c.env)
      response.headers.set('Cache-Control', 'no-store')
      return response
    }
    app.get('/', statusAuth, page)
    app.get('/status.json', statusAuth, page)
  }

  app.use('/v1/*', clientAuth(endpoint.clients))

  const cacheFor = (target: string, caller: ClientConfig) => {
    const served = endpoint.targets.get(target)
    if (!mayRead(caller, target, served?.primary)) {
      throw new LakebaseError(
        403,
        'BROKER_FORBIDDEN',
        `this client may not read target "${target}"`,
      )
    }
    if (!served) throw new LakebaseError(404, 'UNKNOWN_TARGET', `no target named "${target}"`)
    return served
  }

  /** Answers `read(cache)` as the credential body, counting the request by caller and status. */
  const answer = async (
    target: string,
    caller: ClientConfig,
    read: (cache: ServedTarget) => Promise<CachedCredential>,
  ) => {
    try {
      let cached: CachedCredential
      try {
        cached = await read(cacheFor(target, caller))
      } catch (err) {
        if (err instanceof CredentialUnavailableError) throw unavailable(err)
        if (err instanceof NoReadOnlyHostError) throw noReadOnlyHost(err)
        throw err
      }
      endpoint.count(caller, target, '200')
      const { bytes, headers } = endpoint.answer(target, cached)
      return new Response(bytes, { headers })
    } catch (err) {
      const status = err instanceof LakebaseError ? String(err.status) : '500'
      endpoint.count(caller, target, status)
      throw err
    }
  }

  app.get('/v1/credentials/:target?', async (c) => {
    const target = c.req.param('target') ?? 'default'
    // On behalf of a user only when asked (the fast path leaves such requests to this route).
    const userToken = c.req.header(USER_TOKEN_HEADER)
    if (userToken !== undefined) {
      return answer(target, c.get('caller'), () =>
        perUser.get(target, userToken, undefined, c.get('caller').name),
      )
    }
    return answer(target, c.get('caller'), (cache) => cache.get())
  })

  app.post(
    '/v1/credentials/:target/refresh',
    bodyLimit({
      maxSize: REFUSAL_BODY_MAX_BYTES,
      onError: () => {
        throw new LakebaseError(
          413,
          'PAYLOAD_TOO_LARGE',
          `a refusal report is at most ${REFUSAL_BODY_MAX_BYTES} bytes`,
        )
      },
    }),
    async (c) => {
      const target = c.req.param('target')
      const refusal = refusalSchema.safeParse(await jsonBody(c.req.raw))
      if (!refusal.success) {
        throw new LakebaseError(
          400,
          'INVALID_REQUEST',
          'the body must be {"refused":"<version>"}',
          {
            technicalDetails: {
              errors: refusal.error.issues.map((i) => ({
                field: i.path.join('.') || '(body)',
                message: i.message,
              })),
            },
          },
        )
      }
      const { refused } = refusal.data
      const userToken = c.req.header(USER_TOKEN_HEADER)
      if (userToken !== undefined) {
        return answer(target, c.get('caller'), () =>
          perUser.get(target, userToken, refused, c.get('caller').name),
        )
      }
      return answer(target, c.get('caller'), (cache) => cache.refused(refused))
    },
  )

  app.notFound(notFoundHandler())
  app.onError(errorHandler(logger))
  return app
}

/** The request's body as JSON, or undefined when it is empty or not JSON (the schema says why). */
async function jsonBody(request: Request): Promise<unknown> {
  try {
    return JSON.parse(await request.text())
  } catch {
    return undefined
  }
}

/** A companion with no read-only host is no target, for now: 404 with the reason. */
function noReadOnlyHost(err: NoReadOnlyHostError): LakebaseError {
  return new LakebaseError(
    404,
    'UNKNOWN_TARGET',
    `target "${err.target}" is not served: ${err.message}`,
    {
      technicalDetails: { target: err.target, primary: err.primary },
    },
  )
}

function unavailable(err: CredentialUnavailableError): LakebaseError {
  const last = err.lastError
  const details: Record<string, unknown> = { target: err.target }
  if (last) {
    details.error_class = last.errorClass
    details.failure_kind = last.kind
    details.last_error = last.message
    details.suggested_fix = last.fix
    details.last_error_at = new Date(last.at).toISOString()
    if (last.upstreamStatus !== undefined) details.upstream_status = last.upstreamStatus
    if (last.upstreamErrorCode !== undefined) details.upstream_error_code = last.upstreamErrorCode
  }
  return new LakebaseError(
    503,
    'CREDENTIAL_UNAVAILABLE',
    last
      ? `no valid credential for "${err.target}": ${last.message}`
      : `no credential for "${err.target}" yet`,
    { technicalDetails: details, retryAfter: err.retryAfterS },
  )
}

function readiness(status: TargetStatus, now: number) {
  return {
    target: status.target,
    source: status.source,
    valid: status.valid,
    stale: status.stale,
    expires_in_s:
      status.expiresAt === undefined ? null : Math.floor((status.expiresAt - now) / 1000),
    last_error: status.lastError
      ? {
          error_class: status.lastError.errorClass,
          kind: status.lastError.kind,
          message: status.lastError.message,
          fix: status.lastError.fix,
          upstream_status: status.lastError.upstreamStatus ?? null,
          upstream_error_code: status.lastError.upstreamErrorCode ?? null,
          at: new Date(status.lastError.at).toISOString(),
        }
      : null,
  }
}
