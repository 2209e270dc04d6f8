import type { BrokerCredentials } from '../shared/broker-client.js'
import { brokerCredentials } from '../shared/broker-credentials.js'
import type { SslMode } from '../shared/credential.js'
import { Database } from '../shared/db/database.js'
import type { Env } from '../shared/env.js'
import { LakebaseOptionError } from '../shared/errors.js'
import { createLogger, type Logger } from '../shared/logger.js'
import { buildFunctionsApp } from './app.js'
import { resolveFunctionsConfig } from './config.js'

/** Options of {@link createFunctionsApp}; each defaults as the `functions` command has it. */
export interface CreateFunctionsAppOptions {
  /**
   * Where credentials come from.
   * @default `brokerCredentials({ env })`: `LAKEBASE_BROKER_URL`, `LAKEBASE_BROKER_TOKEN`, …
   */
  credentials?: BrokerCredentials
  /**
   * The settings: `TRUST_FORWARDED_HEADERS`, `LAKEBASE_DEV_USER`, `PREFERENCE_KEYS`,
   * `PGSSLMODE`, `LAKEBASE_POOL_MAX`, … as the README's functions table lists them.
   * @default `process.env`
   */
  env?: Env
  /** @default JSON lines on stdout at `LOG_LEVEL`, else `info` */
  logger?: Logger
  /**
   * Trust `X-Forwarded-Email`/`X-Forwarded-User`: only behind the Databricks Apps proxy.
   * @default `TRUST_FORWARDED_HEADERS`, else true when `DATABRICKS_APP_NAME` is set
   */
  trustForwardedHeaders?: boolean
  /** The one user when forwarded headers are not trusted. @default `LAKEBASE_DEV_USER` */
  devUser?: string
  /** The preference keys allowed. @default `PREFERENCE_KEYS`, else the three of the original app */
  preferenceKeys?: readonly string[]
  /** TLS to Postgres. @default `PGSSLMODE`, else what the broker's credential says */
  sslMode?: SslMode
}

/** The functions as a Hono app, plus what it holds open. */
export interface FunctionsApp {
  /** The Hono app: mount it (`app.route('/', functions.app)`) or serve `functions.app.fetch`. */
  readonly app: ReturnType<typeof buildFunctionsApp>
  /** Closes the app's Postgres pool. */
  close(): Promise<void>
}

/**
 * The reference functions (preferences, inference logs, model-serving logs, health, OpenAPI at
 * `/api/openapi.json`) as a Hono app on broker credentials, to mount in your own service. A
 * wrong option throws {@link LakebaseOptionError} naming it; a wrong setting in `env` throws
 * naming the variable.
 *
 * @example
 * const functions = createFunctionsApp()
 * app.route('/', functions.app)
 */
export function createFunctionsApp(options: CreateFunctionsAppOptions = {}): FunctionsApp {
  check(options)
  const env = options.env ?? process.env
  const config = resolveFunctionsConfig(env)
  const logger = options.logger ?? createLogger({ name: 'functions', level: config.logLevel })
  const credentials =
    options.credentials ??
    brokerCredentials({ env, url: config.brokerUrl, target: config.brokerTarget })
  const database = new Database({
    credentials,
    sslMode: options.sslMode ?? config.sslMode,
    max: config.poolMax,
    logger,
  })
  const app = buildFunctionsApp({
    database,
    credentials,
    logger,
    trustForwardedHeaders: options.trustForwardedHeaders ?? config.trustForwardedHeaders,
    devUser: options.devUser ?? config.devUser,
    preferenceKeys: options.preferenceKeys ?? config.preferenceKeys,
  })
  return { app, close: () => database.close() }
}

function check(options: CreateFunctionsAppOptions): void {
  const c = options.credentials
  if (c !== undefined && (typeof c?.get !== 'function' || typeof c.password !== 'function')) {
    throw new LakebaseOptionError('credentials', 'must come from brokerCredentials()')
  }
  if (options.devUser !== undefined && options.devUser.trim() === '') {
    throw new LakebaseOptionError('devUser', 'must not be empty')
  }
  const keys = options.preferenceKeys
  if (keys !== undefined && (!Array.isArray(keys) || keys.length === 0)) {
    throw new LakebaseOptionError('preferenceKeys', 'must be a non-empty list of keys')
  }
}
