import pg from 'pg'
import { z } from 'zod'
import { credentialAfterRefusal } from '../client/after-refusal.js'
import type { BrokerCredentials } from '../client/broker-client.js'
import { brokerCredentials, readOnlyBrokerTarget } from '../client/broker-credentials.js'
import { type Credential, SSL_MODES, type SslMode } from '../client/credential.js'
import { LakebaseOptionError } from '../client/errors.js'
import { sqlstateOf } from '../client/sqlstate.js'
import { traceQuery, watchPool } from '../client/telemetry.js'
import { checkRootCert, pgSslOption } from '../client/tls.js'
import { nextWakePause, WAKE_PAUSE_MS, WAKE_TIMEOUT_MS } from '../client/wake-up.js'
import { AUTH_RETRY_PAUSE_MS, MAX_AUTH_RETRIES, pause } from '../postgres/retry-policy.js'
import {
  isReadOnly as isReadOnlyStatement,
  isRepeatableWhenReadOnly,
  statementTemplate,
} from '../postgres/statement.js'
import { type Env, envValue } from '../process/env.js'
import type { Logger } from '../process/logger.js'
import { mayBeWaking, NO_TLS_MESSAGE, neverSent, pgFailure } from './failure.js'

/**
 * pg waits forever for a login by default (`connectionTimeoutMillis: 0`), and as long for a free
 * client in a full pool. 5 s (postgres.js wrapper's CONNECT_TIMEOUT_S): a login that takes longer
 * is not coming, and the caller gets an error instead of a hung request.
 */
export const CONNECT_TIMEOUT_MS = 5_000
/**
 * A query whose connection dropped is tried again up to this often (when it is read-only or never
 * reached the server): once for the drop, once more because the event that dropped it (a kill of
 * every backend of the role, a failover) can reach the next idle client before pg has noticed.
 * Fewer than the postgres.js wrapper's reads: a login pg cannot make costs its whole connect
 * timeout each time.
 */
export const MAX_CONNECTION_RETRIES = 2

/** What `readOnly: true` adds to each login's startup `options`. */
const READ_ONLY_STARTUP_OPTION = '-c default_transaction_read_only=on'

/** pg's options that the broker's credential decides; passing one is a mistake. */
const FROM_CREDENTIAL = [
  'host',
  'port',
  'user',
  'database',
  'password',
  'connectionString',
  'ssl',
] as const

/**
 * Options of {@link createPool}: the Lakebase ones below, and any other `pg.PoolConfig`, passed
 * through with pg's defaults (`max` 10, `idleTimeoutMillis` 10 000, no `statement_timeout`).
 * Host, port, database, user, password and TLS come from the credential and cannot be set.
 */
export interface CreatePoolOptions
  extends Omit<pg.PoolConfig, (typeof FROM_CREDENTIAL)[number] | 'Client'> {
  /**
   * Where the credential comes from. Default: `brokerCredentials` on `LAKEBASE_BROKER_URL`
   * (default `http://127.0.0.1:8990`), `LAKEBASE_BROKER_TOKEN` (else the broker's token file)
   * and `LAKEBASE_BROKER_TARGET` (default `default`), read from `env`.
   */
  credentials?: BrokerCredentials
  /** TLS mode. Default: `PGSSLMODE` from `env`, else the credential's own `ssl`. */
  sslMode?: SslMode
  /** Environment for the defaults above and `PGSSLROOTCERT`. Default: `process.env`. */
  env?: Env
  /** Where retries and dropped connections are logged (never a secret). Default: none. */
  logger?: Logger
  /**
   * Whether a statement may run a second time after its connection dropped mid-statement.
   * Default: the same text rule as `createSql` (a single plain `SELECT` and the like).
   */
  isReadOnly?: (text: string) => boolean
  /** pg's `connectionTimeoutMillis`. Default: {@link CONNECT_TIMEOUT_MS} (pg's own: forever). */
  connectionTimeoutMillis?: number
  /**
   * Read from the target's read-only companion: the broker's `<target>-ro` (the readable
   * secondaries of a Provisioned instance or an Autoscaling endpoint), every client logged in with
   * `default_transaction_read_only=on` (added to `options`). Nothing it runs can write, so a
   * `pool.query` is tried again (up to twice) after a dropped connection whatever its text (except a
   * notification, dblink, or one that turns read-write), unless `isReadOnly` is given. With
   * `credentials` given, those are used as they are. Default: false.
   */
  readOnly?: boolean
}

/** The pool's figures, from the driver's own counts plus the logins it made. */
export interface PgPoolStats {
  max: number
  /** Clients open or opening (`pool.totalCount`). */
  open: number
  /** Clients open and not checked out (`pool.idleCount`). */
  idle: number
  /** Callers waiting for a client (`pool.waitingCount`). */
  waiting: number
  /** Times pg asked for a password: one per login attempt. */
  logins: number
  /** Logins refused (28P01) and tried again with a fresh credential. */
  auth_retries: number
  /** Operations tried again after a dropped connection. */
  connection_retries: number
  /** The user of the credential the pool logs in with, once known. */
  login_user: string | null
}

/** A `pg.Pool` on broker credentials. */
export interface LakebasePool extends pg.Pool {
  stats(): PgPoolStats
}

const positiveInt = z.number().int().positive()
const nonNegative = z.number().nonnegative()
const optionsSchema = z
  .object({
    credentials: z
      .custom<BrokerCredentials>(isBrokerCredentials, 'must be a broker client (brokerCredentials)')
      .optional(),
    sslMode: z.enum(SSL_MODES).optional(),
    env: z.custom<Env>((v) => typeof v === 'object' && v !== null, 'must be an object').optional(),
    logger: z.custom<Logger>((v) => typeof (v as Logger)?.warn === 'function').optional(),
    isReadOnly: z.custom<(text: string) => boolean>((v) => typeof v === 'function').optional(),
    readOnly: z.boolean('must be true or false').optional(),
    options: z.string('must be a string of startup options').optional(),
    max: positiveInt.optional(),
    min: z.number().int().nonnegative().optional(),
    connectionTimeoutMillis: nonNegative.optional(),
    idleTimeoutMillis: nonNegative.optional(),
    maxLifetimeSeconds: nonNegative.optional(),
    maxUses: positiveInt.optional(),
  })
  .loose()

/**
 * A real `pg.Pool` that logs in with the broker's credential: host, port, database and user from
 * the credential, the password asked for per connection, TLS from `sslMode` / `PGSSLMODE` /
 * `PGSSLROOTCERT` (else the credential's `ssl`). Other `pg.PoolConfig` options pass through.
 *
 * Its promises, the same as the postgres.js wrapper's:
 * - the password function never rejects;
 * - without a valid credential, `query` and `connect` fail at once with the broker client's
 *   LakebaseError (503 `CREDENTIAL_UNAVAILABLE`, or `LAKEBASE_NOT_CONFIGURED`), opening nothing;
 * - a login refused after a rotation (28P01) forgets the credential and logs in again with a
 *   fresh one before the caller sees it (nothing ran, so always safe);
 * - a dropped connection costs a reconnect: idle clients that die are dropped (the pool and
 *   every client always have an `'error'` listener, so a killed backend never crashes the
 *   process), and a `pool.query` is tried again (up to twice) when it is read-only
 *   ({@link CreatePoolOptions.isReadOnly}) or never reached the server. A write whose connection
 *   dropped mid-statement is not retried (a retry must never change the answer): it rejects
 *   with pg's error;
 * - a login refused or cut off as a server waking from scale-to-zero does (an IDLE Autoscaling
 *   endpoint) is tried again with growing pauses, for up to 3 s ({@link WAKE_TIMEOUT_MS}) within
 *   `connectionTimeoutMillis`, instead of failing the request.
 *
 * Database errors are pg's own (`code` is the SQLSTATE), so drizzle, Kysely or Prisma read them
 * as usual. A wrong option throws a {@link LakebaseOptionError} naming it.
 */
export function createPool(options: CreatePoolOptions = {}): LakebasePool {
  const checked = checkOptions(options)
  const { credentials, sslMode, env, logger, isReadOnly, readOnly, ...poolConfig } = checked
  const resolvedEnv = env ?? process.env
  const config = readOnly
    ? {
        ...poolConfig,
        options: [poolConfig.options, READ_ONLY_STARTUP_OPTION].filter(Boolean).join(' '),
      }
    : poolConfig
  return new BrokerPool(config, {
    credentials:
      credentials ??
      brokerCredentials(
        readOnly
          ? { env: resolvedEnv, target: readOnlyBrokerTarget(resolvedEnv) }
          : { env: resolvedEnv },
      ),
    sslMode: sslMode ?? envSslMode(resolvedEnv),
    env: resolvedEnv,
    logger,
    isReadOnly: isReadOnly ?? (readOnly ? isRepeatableWhenReadOnly : isReadOnlyStatement),
  })
}

function checkOptions(options: CreatePoolOptions): CreatePoolOptions {
  if (typeof options !== 'object' || options === null) {
    throw new LakebaseOptionError('options', 'must be an object')
  }
  for (const name of FROM_CREDENTIAL) {
    if (name in options) {
      const instead = name === 'ssl' ? 'set sslMode or PGSSLMODE' : 'it comes from the broker'
      throw new LakebaseOptionError(name, `cannot be set: ${instead}`)
    }
  }
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new LakebaseOptionError(issue?.path.join('.') || 'options', issue?.message ?? 'invalid')
  }
  checkRootCert(options.env ?? process.env)
  return options
}

function envSslMode(env: Env): SslMode | undefined {
  const raw = envValue(env, 'PGSSLMODE')
  if (raw === undefined) return undefined
  const parsed = z.enum(SSL_MODES).safeParse(raw)
  if (!parsed.success) {
    throw new LakebaseOptionError('PGSSLMODE', `must be one of ${SSL_MODES.join(', ')}`)
  }
  return parsed.data
}

function isBrokerCredentials(value: unknown): boolean {
  const c = value as BrokerCredentials
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.get === 'function' &&
    typeof c.current === 'function' &&
    typeof c.password === 'function' &&
    typeof c.forget === 'function'
  )
}

interface BrokerPoolSettings {
  credentials: BrokerCredentials
  sslMode: SslMode | undefined
  env: Env
  logger: Logger | undefined
  isReadOnly: (text: string) => boolean
}

/** What one caller's operation has used up of its retries. */
interface Attempt {
  authRetries: number
  connectionRetries: number
  /**
   * When it began (performance.now()): a wait after a refused login, or for a waking server, ends
   * by the connect timeout.
   */
  since: number
  /** The next pause before trying a server that may be waking again. */
  wakePause: number
  /** The last refused login's error: what the caller gets if no better credential comes in time. */
  refusal?: unknown
  /** The versions handed to this attempt after a refusal ({@link credentialAfterRefusal}). */
  tried?: Set<string>
}

/** An operation's retries, none used yet, starting now. */
function newAttempt(): Attempt {
  return {
    authRetries: 0,
    connectionRetries: 0,
    since: performance.now(),
    wakePause: WAKE_PAUSE_MS,
  }
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: pg.PoolClient['release'],
) => void

class BrokerPool extends pg.Pool implements LakebasePool {
  private logins = 0
  private authRetries = 0
  private connectionRetries = 0
  private loginKey: string | undefined
  /** The credential (and plain-text fallback) `loginKey` was last made from. */
  private keyedCredential: Credential | undefined
  private keyedPlainText = false
  private loginUser: string | undefined
  /** The TLS mode of the current login: `sslMode`, else the credential's. */
  private mode: SslMode | undefined
  /** The server said it has no TLS while the mode was `prefer`: log in in plain text. */
  private plainText = false
  /**
   * Bumped when the credential names another login (user, host, database, TLS): clients logged
   * in before are replaced when next taken, instead of serving the old login until they idle out.
   */
  private generation = 0
  private readonly born = new WeakMap<pg.PoolClient, number>()
  /** How long a login may take, waits for the broker after a refusal included. */
  private readonly connectTimeoutMs: number

  constructor(
    config: pg.PoolConfig,
    private readonly settings: BrokerPoolSettings,
  ) {
    super({
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      ...config,
      // Never rejects, whatever credentials object was given: pg would fail the login with it.
      password: async () => {
        this.logins += 1
        try {
          return await settings.credentials.password()
        } catch {
          return ''
        }
      },
    })
    // pg's 0 means no limit; a wait for the broker is then bounded by the default all the same.
    this.connectTimeoutMs = config.connectionTimeoutMillis || CONNECT_TIMEOUT_MS
    // Without a listener an idle client's death (pg emits 'error' on the pool) kills the process.
    this.on('error', (err) => this.dropped(err, 'idle client'))
    this.on('connect', (client) => {
      this.born.set(client, this.generation)
      // A checked-out client that dies between queries emits 'error' too; unheard, it would
      // crash the process. Its next query fails with pg's "not queryable" instead.
      client.on('error', (err) => this.dropped(err, 'client'))
    })
    watchPool(this, { driver: 'pg', target: settings.credentials.target }, (pool) => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }))
  }

  stats(): PgPoolStats {
    return {
      max: this.options.max,
      open: this.totalCount,
      idle: this.idleCount,
      waiting: this.waitingCount,
      logins: this.logins,
      auth_retries: this.authRetries,
      connection_retries: this.connectionRetries,
      login_user: this.loginUser ?? null,
    }
  }

  override connect(): Promise<pg.PoolClient>
  override connect(callback: ConnectCallback): void
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const client = this.acquire(newAttempt())
    if (!callback) return client
    client.then(
      (c) => callback(undefined, c, c.release),
      (err: Error) => callback(err, undefined, () => {}),
    )
    return undefined
  }

  // One signature for pg's many overloads; LakebasePool keeps pg's types for callers.
  // biome-ignore lint/suspicious/noExplicitAny: pg.Pool['query'] has overloads no single signature satisfies
  override query(...args: unknown[]): any {
    if (typeof (args[0] as pg.Submittable | undefined)?.submit === 'function') {
      // A stream or cursor: pg-pool's own path (through this.connect), without statement retries.
      return (super.query as (...a: unknown[]) => unknown).apply(this, args)
    }
    const callback =
      typeof args.at(-1) === 'function'
        ? (args.pop() as (err: Error | undefined, result?: pg.QueryResult) => void)
        : undefined
    const [config, values] = args
    const text = typeof config === 'string' ? config : (config as pg.QueryConfig).text
    const result = traceQuery(
      'pg',
      () => statementTemplate([text]),
      () => this.run(config as string | pg.QueryConfig, values as unknown[] | undefined),
    )
    if (!callback) return result
    result.then(
      (r) => callback(undefined, r),
      (err: Error) => callback(err),
    )
    return undefined
  }

  private async run(config: string | pg.QueryConfig, values: unknown[] | undefined) {
    const attempt = newAttempt()
    for (;;) {
      const client = await this.acquire(attempt)
      try {
        const result = await client.query(config, values)
        client.release()
        return result
      } catch (err) {
        const failure = pgFailure(err)
        // The server's answer to a bad statement leaves the connection in step: it goes back to
        // the pool. Anything else (a dead connection, pg's query_timeout with the statement still
        // running) takes the client out, as pg-pool's own query does for every error.
        const inStep = failure !== 'connection' && err instanceof pg.DatabaseError
        client.release(inStep ? undefined : (err as Error))
        if (failure !== 'connection') throw err
        const text = typeof config === 'string' ? config : config.text
        const retry =
          attempt.connectionRetries < MAX_CONNECTION_RETRIES &&
          (neverSent(err) || this.settings.isReadOnly(text))
        this.settings.logger?.warn(
          { failure, code: sqlstateOf(err), retry },
          'pg query failed: connection dropped',
        )
        if (!retry) throw err
        attempt.connectionRetries += 1
        this.connectionRetries += 1
      }
    }
  }

  /**
   * A client logged in with the current credential: 28P01 costs a fresh credential, a failed
   * connection one more try, a client of a previous login a new one.
   */
  private async acquire(attempt: Attempt): Promise<pg.PoolClient> {
    for (;;) {
      // The credential in hand while it is valid (no await: a query's hot path); else the broker's,
      // which throws its LakebaseError at once when there is none. Each new connection's password
      // still asks get(), which refreshes ahead of expiry.
      const { credentials } = this.settings
      // After a refused login, through the broker's answer to the report even when a credential
      // is held (another caller's report may have put the refused one back): it may ask to come
      // back later, within the timeout.
      this.useLogin(
        attempt.authRetries > 0
          ? await credentialAfterRefusal(credentials, {
              error: attempt.refusal,
              tried: attempt.tried ?? new Set(),
              deadline: attempt.since + this.connectTimeoutMs,
            })
          : (credentials.current() ?? (await credentials.get())),
      )
      let client: pg.PoolClient
      try {
        client = await super.connect()
      } catch (err) {
        if (this.mode === 'prefer' && (err as Error).message === NO_TLS_MESSAGE) {
          this.plainText = true
          continue
        }
        const failure = pgFailure(err)
        let retry = false
        if (failure === 'auth' && attempt.authRetries < MAX_AUTH_RETRIES) {
          attempt.refusal = err
          attempt.tried ??= new Set()
          this.settings.credentials.forget()
          // The broker may still be storing the credential that replaced the rejected one.
          await pause(AUTH_RETRY_PAUSE_MS * attempt.authRetries)
          attempt.authRetries += 1
          this.authRetries += 1
          retry = true
        } else if (
          mayBeWaking(err) &&
          performance.now() - attempt.since + attempt.wakePause <
            Math.min(WAKE_TIMEOUT_MS, this.connectTimeoutMs)
        ) {
          // Nothing ran: an endpoint waking from scale-to-zero refuses or drops the first logins.
          await pause(attempt.wakePause)
          attempt.wakePause = nextWakePause(attempt.wakePause)
          this.connectionRetries += 1
          retry = true
        } else if (failure === 'connection' && attempt.connectionRetries < MAX_CONNECTION_RETRIES) {
          attempt.connectionRetries += 1
          this.connectionRetries += 1
          retry = true
        }
        this.settings.logger?.warn({ failure, code: sqlstateOf(err), retry }, 'pg login failed')
        if (!retry) throw err
        continue
      }
      if ((this.born.get(client) ?? -1) >= this.generation) return client
      client.release(true)
    }
  }

  /** Points new clients at the credential's login (pg-pool hands `options` to each client). */
  private useLogin(credential: Credential): void {
    // The same credential object, the same login: skip building its key (every query comes here).
    if (credential === this.keyedCredential && this.keyedPlainText === this.plainText) return
    this.keyedCredential = credential
    this.keyedPlainText = this.plainText
    const mode = this.settings.sslMode ?? credential.ssl
    const { host, port, database, user } = credential
    const key = JSON.stringify([host, port, database, user, mode, this.plainText])
    if (key === this.loginKey) return
    if (this.loginKey !== undefined) this.generation += 1 // another login: replace old clients
    this.loginKey = key
    this.loginUser = user
    this.mode = mode
    const ssl = this.plainText ? false : pgSslOption(mode, this.settings.env)
    Object.assign(this.options, { host, port, database, user, ssl })
  }

  private dropped(err: Error, where: string): void {
    this.settings.logger?.warn({ code: sqlstateOf(err), where }, 'pg connection dropped')
  }
}
