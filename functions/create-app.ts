import {
  type BrokerCredentials,
  brokerCredentials,
  LakebaseOptionError,
  type SslMode,
} from 'lakebase-broker'
import { createLogger, type Logger } from 'lakebase-broker/hono'
import type { ServingClient } from 'lakebase-broker/workspace'
import { buildFunctionsApp } from './app.js'
import { FunctionsDatabase } from './db/database.js'
import { functionsAppConfig } from './settings.js'

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
  env?: Record<string, string | undefined>
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
  /** Postgres connections. @default `LAKEBASE_POOL_MAX`, else 10 */
  poolMax?: number
  /** Postgres aborts a statement after this long (0: never). @default `LAKEBASE_STATEMENT_TIMEOUT_MS`, else 30 s */
  statementTimeoutMs?: number
  /**
   * Postgres ends a session idle inside a transaction after this long (0: never).
   * @default `LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`, else 30 s
   */
  idleInTransactionTimeoutMs?: number
  /**
   * Model serving for `/api/model-serving/*` (from `servingClient()` of
   * `lakebase-broker/workspace`). @default none: invoking answers 503 `MODEL_UNAVAILABLE` (no workspace)
   */
  modelServing?: ServingClient
  /**
   * The database the routes use, instead of a pool of the app's own (which `close()` then
   * leaves open): e.g. one per request on Cloudflare Workers.
   */
  database?: FunctionsDatabase
}

/** The functions as a Hono app, plus what it holds open. */
export interface FunctionsApp {
  /** The Hono app: mount it (`app.route('/', functions.app)`) or serve `functions.app.fetch`. */
  readonly app: ReturnType<typeof buildFunctionsApp>
  /** The database its routes use (for health pages and migration status). */
  readonly database: FunctionsDatabase
  /** Closes the app's Postgres pool (not a `database` that was given). */
  close(): Promise<void>
}

/**
 * The reference functions (preferences, inference logs, model-serving logs, health, OpenAPI at
 * `/api/openapi.json`) as a Hono app on broker credentials, to mount in your own service. A
 * wrong option throws {@link LakebaseOptionError} naming it; a wrong setting in `env` throws
 * a `ConfigError` naming the variable.
 *
 * @example
 * const functions = createFunctionsApp()
 * app.route('/', functions.app)
 */
export function createFunctionsApp(options: CreateFunctionsAppOptions = {}): FunctionsApp {
  check(options)
  const env = options.env ?? process.env
  const config = functionsAppConfig(env)
  const logger = options.logger ?? createLogger({ name: 'functions', level: config.logLevel })
  const credentials = options.credentials ?? brokerCredentials({ env })
  const database =
    options.database ??
    new FunctionsDatabase({
      credentials,
      sslMode: options.sslMode ?? config.sslMode,
      max: options.poolMax ?? config.poolMax,
      statementTimeoutMs: options.statementTimeoutMs ?? config.statementTimeoutMs,
      idleInTransactionTimeoutMs:
        options.idleInTransactionTimeoutMs ?? config.idleInTransactionTimeoutMs,
      logger,
    })
  const app = buildFunctionsApp({
    database,
    credentials,
    logger,
    trustForwardedHeaders: options.trustForwardedHeaders ?? config.trustForwardedHeaders,
    devUser: options.devUser ?? config.devUser,
    preferenceKeys: options.preferenceKeys ?? config.preferenceKeys,
    modelServing: options.modelServing,
  })
  const owned = options.database === undefined
  return { app, database, close: async () => (owned ? database.close() : undefined) }
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
  const d = options.database
  if (d !== undefined && (typeof d?.run !== 'function' || typeof d.stats !== 'function')) {
    throw new LakebaseOptionError('database', 'must be a FunctionsDatabase')
  }
  for (const name of ['poolMax', 'statementTimeoutMs', 'idleInTransactionTimeoutMs'] as const) {
    const v = options[name]
    const least = name === 'poolMax' ? 1 : 0
    if (v !== undefined && !(Number.isInteger(v) && v >= least)) {
      throw new LakebaseOptionError(name, `must be a whole number, at least ${least}`)
    }
  }
  const m = options.modelServing
  if (m !== undefined && typeof m?.invoke !== 'function') {
    throw new LakebaseOptionError('modelServing', 'must come from servingClient()')
  }
}
