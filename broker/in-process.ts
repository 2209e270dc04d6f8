import { randomBytes } from 'node:crypto'
import type { Clock } from '../shared/client/clock.js'
import { LakebaseOptionError } from '../shared/client/errors.js'
import { type Env, envValue } from '../shared/process/env.js'
import { createLogger, type Logger } from '../shared/process/logger.js'
import { type RunningBroker, startBrokerFromConfig } from './broker.js'
import { resolveBrokerConfig } from './config.js'
import type { ProviderFactories } from './providers/create-provider.js'

/** The in-memory client token's strength: as the broker's generated token file. */
const IN_MEMORY_TOKEN_BYTES = 32

/** Options of {@link startBroker}. */
export interface StartBrokerOptions {
  /**
   * The same variables the `lakebase-broker broker` command reads (`LAKEBASE_PROVIDER`,
   * `DATABRICKS_HOST`, `LAKEBASE_INSTANCE_NAME`, `PGHOST`, `BROKER_CONFIG`, …). Without
   * `BROKER_PORT`/`BROKER_SOCKET` the broker listens on a free loopback port; without
   * `BROKER_TOKEN` (or clients in `BROKER_CONFIG`) it makes an in-memory client token.
   * @default `process.env`
   */
  env?: Env
  /**
   * Where the broker logs (a pino logger).
   * @default JSON lines on stdout at `LOG_LEVEL`, else `warn`
   */
  logger?: Logger
  /** The clock (tests). @default the system clock */
  clock?: Clock
  /** More provider kinds, by name. */
  providers?: ProviderFactories
}

/** A broker running in this process. */
export interface InProcessBroker {
  /** `http://127.0.0.1:<port>` or `unix:/path`: give it to clients as `LAKEBASE_BROKER_URL`. */
  readonly url: string
  /** A client token the broker accepts: give it to clients as `LAKEBASE_BROKER_TOKEN`. */
  readonly token: string
  /** Marks the broker draining: `/readyz` answers 503 while requests are still served. */
  drain(): void
  /** Stops refreshing and closes the endpoint. */
  stop(): Promise<void>
  /** The broker's internals, for status and tests. */
  readonly running: RunningBroker
}

/**
 * Starts the credential broker inside this process: the provider named by `env`, the cache that
 * refreshes ahead of expiry and serves the last good credential through outages, and the
 * guarded HTTP endpoint. A wrong setting throws a `ConfigError` naming the variable.
 *
 * @example
 * const broker = await startBroker({ env: { PGHOST: 'localhost', PGUSER: 'me', PGPASSWORD: 'pw' } })
 * const credentials = brokerCredentials({ url: broker.url, token: broker.token })
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<InProcessBroker> {
  if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) {
    throw new LakebaseOptionError('env', 'must be an object of environment variables')
  }
  const env: Env = { ...(options.env ?? process.env) }
  const listensSomewhere = envValue(env, 'BROKER_PORT', 'BROKER_SOCKET') !== undefined
  if (!listensSomewhere) env.BROKER_PORT = '0'
  const configured = envValue(env, 'BROKER_TOKEN', 'BROKER_CONFIG') !== undefined
  if (!configured) env.BROKER_TOKEN = randomBytes(IN_MEMORY_TOKEN_BYTES).toString('base64url')
  const config = resolveBrokerConfig(env)
  const logger =
    options.logger ?? createLogger({ name: 'broker', level: envValue(env, 'LOG_LEVEL') ?? 'warn' })
  const running = await startBrokerFromConfig({
    config,
    logger,
    clock: options.clock,
    providers: options.providers,
  })
  const token = running.clients[0]?.token
  if (token === undefined) throw new Error('the broker started without any client token')
  return {
    url: running.url,
    token,
    running,
    drain: () => running.drain(),
    stop: () => running.close(),
  }
}
