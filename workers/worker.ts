import { isLoopbackHost, LakebaseError } from 'lakebase-broker'
import {
  createFunctionsApp,
  type FunctionsAppConfig,
  FunctionsDatabase,
  functionsAppConfig,
} from 'lakebase-broker/functions'
import { createLogger, type Logger } from 'lakebase-broker/hono'
import { type CredentialSlot, requestCredentials } from './isolate-credentials.js'
import { RequestScope } from './request-scope.js'

// The entry module exports only the handler: workerd refuses any other named value export.

/**
 * A request's own Postgres connections. workerd ties a socket to the request that opened it, so
 * no pool outlives its request: each request pays one login (TCP, TLS, password), and one
 * connection serves a handler's queries one after another.
 */
const CONNECTIONS_PER_REQUEST = 1

/**
 * The Worker's log lines go to the console: what workerd records (Workers Logs, `wrangler tail`).
 * There is no stdout to write to.
 */
const CONSOLE = { write: (line: string) => console.log(line.trimEnd()) }

/** The bindings the Worker reads: wrangler.toml `[vars]` and `wrangler secret put`. */
export interface WorkerEnv {
  /** The broker, over HTTPS (plain http only for a loopback broker in tests and `wrangler dev`). */
  LAKEBASE_BROKER_URL?: string
  /** Its client token: a secret (`wrangler secret put LAKEBASE_BROKER_TOKEN`). */
  LAKEBASE_BROKER_TOKEN?: string
  /** The rest are the functions' own settings (README), as strings. */
  [name: string]: unknown
}

/** What workerd passes as the third argument; only `waitUntil` is used. */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void
}

interface Isolate {
  key: string
  config: FunctionsAppConfig
  brokerUrl: string
  brokerTarget: string | undefined
  token: string
  logger: Logger
  slot: CredentialSlot
  scope: RequestScope
  app: ReturnType<typeof createFunctionsApp>['app']
}

/** Built on an isolate's first request, from its bindings; a Worker has no start-up hook. */
let isolate: Isolate | undefined

/**
 * The functions on Cloudflare Workers: the same Hono app as the Node host, with credentials from
 * a broker reachable over HTTPS and postgres.js over Workers TCP sockets (its `workerd` build uses
 * `cloudflare:sockets`). The configuration, the app, the logger and the last credential live per
 * isolate; the Database (its connection) and the broker client live per request, and the
 * connection is closed after the response.
 */
export default {
  async fetch(request: Request, env: WorkerEnv, ctx: WorkerContext): Promise<Response> {
    let state: Isolate
    try {
      state = isolateFor(env)
    } catch (err) {
      const error =
        err instanceof LakebaseError
          ? err
          : new LakebaseError(503, 'LAKEBASE_NOT_CONFIGURED', (err as Error).message)
      return Response.json(error.toBody(), { status: error.status })
    }
    const credentials = requestCredentials(state.slot, {
      url: state.brokerUrl,
      token: state.token,
      target: state.brokerTarget,
    })
    const database = new FunctionsDatabase({
      credentials,
      sslMode: state.config.sslMode,
      max: CONNECTIONS_PER_REQUEST,
      logger: state.logger,
      applicationName: 'lakebase-worker',
    })
    try {
      return await state.scope.run({ database, credentials }, () => state.app.fetch(request))
    } finally {
      ctx.waitUntil(database.close())
    }
  },
}

function isolateFor(env: WorkerEnv): Isolate {
  const vars: Record<string, string> = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  )
  const key = JSON.stringify(vars)
  if (isolate?.key === key) return isolate
  const url = vars.LAKEBASE_BROKER_URL?.trim()
  const token = vars.LAKEBASE_BROKER_TOKEN?.trim()
  if (!url || !token) {
    throw notConfigured(
      `the Worker needs ${!url ? 'LAKEBASE_BROKER_URL' : 'LAKEBASE_BROKER_TOKEN'}`,
      'set LAKEBASE_BROKER_URL in wrangler.toml [vars] and `wrangler secret put LAKEBASE_BROKER_TOKEN`',
    )
  }
  if (!isHttpsOrLoopback(url)) {
    throw notConfigured(
      'LAKEBASE_BROKER_URL must be https:// (the client token and the database password travel over it)',
      'put the broker behind TLS and use its https:// URL',
    )
  }
  const config = functionsAppConfig(vars)
  // The same redacting logger as the Node host, so a secret in a log object is censored here too.
  const logger = createLogger({ name: 'functions', level: config.logLevel, destination: CONSOLE })
  const scope = new RequestScope()
  const { app } = createFunctionsApp({
    env: vars,
    database: scope.database,
    credentials: scope.credentials,
    logger,
  })
  const brokerTarget = vars.LAKEBASE_BROKER_TARGET?.trim() || undefined
  isolate = {
    key,
    config,
    brokerUrl: url,
    brokerTarget,
    token,
    logger,
    slot: { held: undefined },
    scope,
    app,
  }
  return isolate
}

function isHttpsOrLoopback(url: string): boolean {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'https:') return true
    return parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)
  } catch {
    return false
  }
}

function notConfigured(message: string, suggestion: string): LakebaseError {
  return new LakebaseError(503, 'LAKEBASE_NOT_CONFIGURED', message, {
    technicalDetails: { error_type: 'ConfigurationError', suggestion },
  })
}
