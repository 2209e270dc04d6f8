import postgres from 'postgres'
import { credentialAfterRefusal } from '../client/after-refusal.js'
import type { BrokerCredentials } from '../client/broker-client.js'
import { brokerCredentials, readOnlyBrokerTarget } from '../client/broker-credentials.js'
import { type Credential, SSL_MODES, type SslMode } from '../client/credential.js'
import { LakebaseOptionError } from '../client/errors.js'
import { ruleFor } from '../client/sqlstate.js'
import { traceQuery, watchPool } from '../client/telemetry.js'
import { sslOption } from '../client/tls.js'
import { WAKE_TIMEOUT_MS } from '../client/wake-up.js'
import { type Env, envValue } from '../process/env.js'
import type { Logger } from '../process/logger.js'
import { countedSocket } from './counted-socket.js'
import { pause, RetryBudget } from './retry-policy.js'
import { shareSerializers } from './shared-serializers.js'
import { isReadOnly, isRepeatableWhenReadOnly, statementTemplate } from './statement.js'

/**
 * A login that takes longer than this is not coming: Postgres down or a network black hole.
 * Requests then fail with 503 in seconds instead of postgres.js's default 30 s.
 */
export const CONNECT_TIMEOUT_S = 5
/**
 * A statement may run this long before Postgres cancels it, and a transaction may sit idle this
 * long: `@databricks/lakebase`'s defaults, so that no request hangs on a lock.
 */
export const STATEMENT_TIMEOUT_MS = 30_000
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000
/** Idle connections are closed after 5 minutes, so an idle service holds no logins. */
export const IDLE_TIMEOUT_S = 300
/**
 * Connections are replaced after a random 30–60 minutes (postgres.js's own default, stated):
 * spread out, so a credential rotation never reconnects the whole pool at once.
 */
export const maxLifetimeS = () => 60 * (30 + Math.random() * 30)
/**
 * After a failed connection attempt postgres.js waits before the next one; its default grows
 * with every failure in the pool up to 20 s, so that after a Postgres restart a request could wait
 * that long on a connection that is not even trying. Capped at 1 s: a restarted server is noticed
 * within a second, and a request during the outage fails fast with 503.
 */
export const RECONNECT_BACKOFF_MAX_S = 1
/** The first retry waits 50 ms, doubling per failure up to {@link RECONNECT_BACKOFF_MAX_S}. */
export const reconnectBackoffS = (failures: number) =>
  Math.min(0.05 * 2 ** Math.max(0, failures - 1), RECONNECT_BACKOFF_MAX_S)
export const DEFAULT_POOL_SIZE = 10
/** A retired pool gets this long to finish its queries in flight before it is closed. */
export const POOL_DRAIN_S = 30

/** postgres.js options that the broker credential decides, so they cannot be passed. */
const FROM_CREDENTIAL = [
  'host',
  'hostname',
  'port',
  'path',
  'database',
  'db',
  'user',
  'username',
  'pass',
  'password',
  'ssl',
  'socket',
] as const

/** Options of {@link createSql}: these, plus any postgres.js option except the login's. */
export interface CreateSqlOptions
  extends Omit<
    postgres.Options<Record<string, postgres.PostgresType>>,
    (typeof FROM_CREDENTIAL)[number]
  > {
  /**
   * Where the login comes from. Default: `brokerCredentials` on `LAKEBASE_BROKER_URL`
   * (default `http://127.0.0.1:8990`), `LAKEBASE_BROKER_TOKEN` (else the broker's token file)
   * and `LAKEBASE_BROKER_TARGET` (default `default`), read from `env`.
   */
  credentials?: BrokerCredentials | undefined
  /** TLS to Postgres. Default: `PGSSLMODE` from `env`, else the credential's own `ssl`. */
  sslMode?: SslMode | undefined
  /** The environment the defaults are read from. Default: `process.env`. */
  env?: Env | undefined
  /**
   * How long a statement that never ran waits for a waking or restarting server, in ms.
   * Default: 3000 ({@link WAKE_TIMEOUT_MS}); 0 fails at once.
   */
  wakeTimeoutMs?: number | undefined
  /** Where retries and failures are logged (SQLSTATE and statement template, never values). */
  logger?: Logger | undefined
  /**
   * Read from the target's read-only companion: the broker's `<target>-ro` (the readable
   * secondaries: a Provisioned instance's `read_only_dns`, an Autoscaling endpoint's
   * `read_only_host`), every connection with
   * `default_transaction_read_only=on`. Nothing it runs can write, so every statement is retried
   * after a dropped connection (except a notification, dblink, or one that turns read-write).
   * With `credentials` given, those are used as they are (name the `-ro` target there).
   * Default: false.
   */
  readOnly?: boolean | undefined
}

/** Counters of one `createSql` client, for health pages. */
export interface SqlStats {
  max: number
  /**
   * Connections open now, counted on the driver's own sockets from the moment each is made until
   * it is destroyed (one logging in included, a refused or failed one only while its socket
   * lives). On Cloudflare Workers, whose postgres.js build makes its own sockets, it is estimated
   * as `logins - closes`, at least 0.
   */
  open: number
  logins: number
  /**
   * Connections closed: every socket destroyed (a refused connect included); on Workers, the
   * driver's own count (postgres.js 4 counts only those that had logged in).
   */
  closes: number
  /** The role of the login in use, once there is one. */
  login_user: string | null
}

interface Generation {
  key: string
  sql: postgres.Sql
  user: string
  /** Whether any statement has completed on it: a server that answered is awake. */
  answered: boolean
  /** Statements given to it and not yet settled; those still queued move on when it retires. */
  pending: Set<AnyQuery>
}

type AnyQuery = postgres.PendingQuery<postgres.Row[]> & QueryInternals
interface QueryInternals {
  executed?: boolean
  cursorFn?: unknown
  tagged: boolean
  strings: readonly string[] & { raw?: readonly string[] }
  args: unknown[]
  options: Record<string, unknown>
  state: unknown
  isRaw?: boolean | 'values'
  onlyDescribe?: boolean
  handler: (query: unknown) => void
  execute(): unknown
}

/** Run as the query object itself (execute(), forEach, a cursor): its own answer, once. */
const streamed = (q: AnyQuery) => !!(q.executed || q.cursorFn)

const stats = new WeakMap<object, () => SqlStats>()

/** The counters of a client made by {@link createSql}; undefined for any other. */
export function sqlStats(sql: postgres.Sql): SqlStats | undefined {
  return stats.get(sql)?.()
}

/**
 * A postgres.js `sql` logged in with broker credentials: host, port, database and user from the
 * credential, TLS from `sslMode`/`PGSSLMODE`/the credential. Tagged templates, `unsafe`,
 * `begin` and `drizzle(sql)` work as on any postgres.js client, with these promises:
 * - the password function never rejects, and with no valid credential a statement fails at once
 *   with 503 `CREDENTIAL_UNAVAILABLE`;
 * - a login refused (28P01) forgets the credential and logs in again with a fresh one;
 * - a dropped connection costs a new pool; a statement that never reached the server is retried,
 *   a read that ran up to {@link MAX_READ_RETRIES} times, a write that may have committed never
 *   (a retry could change its answer: a DELETE would find nothing, an upsert would update);
 * - a serialization failure or deadlock (40001, 40P01) outside a transaction is retried up to
 *   {@link MAX_CONFLICT_RETRIES} times with jitter;
 * - a statement that never ran waits up to `wakeTimeoutMs` for a waking server;
 * - `readOnly: true` reads the target's read-only companion (`<target>-ro`) in read-only
 *   sessions, and then retries any statement after a dropped connection, as none can write.
 *
 * Defaults (each can be passed): `max` 10, `connect_timeout` 5 s, `idle_timeout` 300 s,
 * `max_lifetime` 30–60 min, `connection.statement_timeout` and
 * `connection.idle_in_transaction_session_timeout` 30 s. A wrong option throws
 * `LakebaseOptionError` naming it.
 */
export function createSql(options: CreateSqlOptions = {}): postgres.Sql {
  checkOptions(options)
  const {
    credentials: given,
    sslMode: explicitSsl,
    env = process.env,
    wakeTimeoutMs = WAKE_TIMEOUT_MS,
    logger,
    readOnly = false,
    ...driverOptions
  } = options
  const credentials =
    given ?? brokerCredentials(readOnly ? { env, target: readOnlyBrokerTarget(env) } : { env })
  const repeatable = readOnly ? isRepeatableWhenReadOnly : isReadOnly
  /**
   * Whether a failure means the pool's connections cannot be trusted. In a read-only session a
   * write's 25006 is the session's own answer, not a failover: the pool stays. On postgres.js 4 a
   * refused login (28P01) retires it too: 4 fails every queued statement at once while it backs
   * off after a failed connect, so a new pool logs in with the fresh credential now, and the old
   * one's open connections finish what they run ({@link POOL_DRAIN_S}). postgres.js 3 has no
   * such backoff: its pool stays, and its open connections (checked only at login) with it.
   */
  const retires = (rule: ReturnType<typeof ruleFor>) =>
    (rule.retire && !(readOnly && rule.failure === 'read-only')) ||
    (rule.retry === 'login' && failsFastAfterRefusedLogin)
  const envSsl = envSslMode(env)
  const max = driverOptions.max ?? DEFAULT_POOL_SIZE
  const counters = { logins: 0, closes: 0 }
  // The pool's connections, counted on the sockets it makes (undefined on Workers).
  const sockets = { open: 0, closed: 0 }
  const socket = countedSocket(sockets)
  let current: Generation | undefined
  /** Attempts taken back from a retiring pool (rejected by the cancel): run again, uncounted. */
  const moved = new WeakSet<AnyQuery>()

  // Builds the Query objects (so fragments nest as in any postgres.js client) and holds the
  // shared parser tables drizzle writes to; it never connects: every query runs on a
  // generation, a pool for one login that is replaced when its connections cannot be trusted.
  const base = postgres({ ...driverOptions, max: 1, fetch_types: false, onnotice: () => {} })
  // postgres.js 4 (which added `stats` to the client) fails queued statements during its backoff.
  const failsFastAfterRefusedLogin = 'stats' in base
  // drizzle's serializer writes on this facade reach every generation (see shareSerializers).
  const serializers = shareSerializers(base)

  function open(credential: Credential, key: string): Generation {
    const sql = postgres({
      connect_timeout: CONNECT_TIMEOUT_S,
      backoff: reconnectBackoffS,
      idle_timeout: IDLE_TIMEOUT_S,
      max_lifetime: maxLifetimeS(),
      onnotice: () => {},
      ...driverOptions,
      max,
      // v4 types a socket as SocketLike, which net.Socket does not satisfy; v3 has no type for it.
      ...(socket ? ({ socket } as object) : {}),
      host: credential.host,
      port: credential.port,
      database: credential.database,
      username: credential.user,
      password: () => {
        counters.logins += 1
        return credentials.password()
      },
      ssl: sslOption(explicitSsl ?? envSsl ?? credential.ssl, credential.host, env),
      onclose: (id) => {
        counters.closes += 1
        driverOptions.onclose?.(id)
      },
      connection: {
        application_name: 'lakebase-broker',
        statement_timeout: STATEMENT_TIMEOUT_MS,
        idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
        ...driverOptions.connection,
        ...(readOnly ? { default_transaction_read_only: true } : {}),
      },
    })
    serializers.adopt(sql)
    return { key, sql, user: credential.user, answered: false, pending: new Set() }
  }

  /** The credential the current generation's key was made from, to skip remaking it. */
  let keyedCredential: Credential | undefined
  let keyOfCredential = ''

  /**
   * The pool for the credential in hand: from memory while the client holds a valid one (no
   * await, no new key), else after `get()` (which fails at once when the broker has none). Only
   * the login's identity matters here; each new connection's password callback asks `get()`,
   * which refreshes ahead of expiry.
   */
  function generation(): Generation | Promise<Generation> {
    const held = credentials.current()
    if (held !== undefined && held === keyedCredential && current?.key === keyOfCredential) {
      return current
    }
    return held === undefined ? credentials.get().then(generationFor) : generationFor(held)
  }

  function generationFor(credential: Credential): Generation {
    if (credential !== keyedCredential) {
      keyedCredential = credential
      keyOfCredential = keyFor(credential)
    }
    const key = keyOfCredential
    if (current?.key === key) return current
    // A new user or host (rare: a reconfigured broker) gets a new pool; the old one drains.
    if (current) drain(current)
    current = open(credential, key)
    return current
  }

  const connectTimeoutMs = (Number(driverOptions.connect_timeout) || CONNECT_TIMEOUT_S) * 1000

  /**
   * The generation to log in with after a refused login: the broker's answer to the report,
   * waited for within the connect timeout (counted from the operation's start) when it says a new
   * credential comes later ({@link credentialAfterRefusal}).
   */
  function generationAfterRefusal(budget: RetryBudget): Promise<Generation> {
    // Even when a credential is held: another caller's report may have put the refused one back.
    const login = {
      error: budget.refusal,
      tried: budget.tried,
      deadline: budget.since + connectTimeoutMs,
    }
    return credentialAfterRefusal(credentials, login).then(generationFor)
  }

  function keyFor(credential: Credential): string {
    return JSON.stringify([
      credential.host,
      credential.port,
      credential.database,
      credential.user,
      explicitSsl ?? envSsl ?? credential.ssl,
    ])
  }

  function drain(gen: Generation): void {
    serializers.release(gen.sql)
    void gen.sql.end({ timeout: POOL_DRAIN_S }).catch(() => {})
  }

  function retire(gen: Generation): void {
    if (current !== gen) return
    current = undefined
    // A retiring pool serves no queued statement again: postgres.js would hold them until the
    // drain timeout. Those that never reached a server are taken back and run on the next pool.
    for (const attempt of gen.pending) {
      if (attempt.state === null || attempt.state === undefined) {
        moved.add(attempt)
        void attempt.cancel()
      }
    }
    drain(gen)
  }

  /** A fresh attempt of `query` on `sql`: same text, values and modes. */
  function replay(sql: postgres.Sql, query: AnyQuery): AnyQuery {
    const attempt = (
      query.tagged
        ? (sql as unknown as (s: unknown, ...a: unknown[]) => AnyQuery)(
            query.strings,
            ...query.args,
          )
        : sql.unsafe(query.strings[0] ?? '', query.args as postgres.ParameterOrJSON<never>[])
    ) as AnyQuery
    Object.assign(attempt.options, query.options)
    if (query.isRaw) attempt.isRaw = query.isRaw
    if (query.onlyDescribe) attempt.onlyDescribe = true
    return attempt
  }

  /** Runs `query` to its answer under the retry policy (see the JSDoc of createSql). */
  async function settle(query: AnyQuery): Promise<unknown> {
    // Judged only when a statement failed: the text rule costs regular expressions.
    const rerunnable = () => repeatable(query.strings.join(' '))
    const started = performance.now()
    let budget: RetryBudget | undefined
    for (;;) {
      const next =
        budget !== undefined && budget.refusals > 0 ? generationAfterRefusal(budget) : generation()
      const gen = next instanceof Promise ? await next : next
      const attempt = replay(gen.sql, query)
      gen.pending.add(attempt)
      try {
        const result = await attempt
        gen.answered = true
        return result
      } catch (err) {
        if (moved.has(attempt)) continue
        const rule = ruleFor(err)
        // `state` is set when the statement is written to a backend: before that, nothing ran.
        const ran = attempt.state !== null && attempt.state !== undefined
        if (retires(rule)) retire(gen)
        budget ??= new RetryBudget(wakeTimeoutMs, started)
        const refusals = budget.refusals
        const wait = budget.statement(rule, err, { ran, answered: gen.answered, rerunnable })
        if (budget.refusals > refusals) credentials.forget()
        if (wait !== undefined) await pause(wait)
        const retry = wait !== undefined
        if (rule.failure !== 'other') {
          logger?.warn(
            {
              failure: rule.failure,
              code: (err as { code?: unknown }).code,
              statement: statementTemplate(query.strings),
              ran,
              retry,
            },
            'database statement failed',
          )
        }
        if (!retry) throw err
      } finally {
        gen.pending.delete(attempt)
      }
    }
  }

  /** Makes a Query built by `base` run on the current generation under the retry policy. */
  function wire<Q>(made: Q): Q {
    const query = made as unknown as AnyQuery
    let answer: Promise<unknown> | undefined
    const run = () => {
      answer ??= traceQuery(
        'postgres',
        () => statementTemplate(query.strings),
        () => settle(query),
      )
      return answer
    }
    Object.assign(query, {
      // biome-ignore lint/suspicious/noThenProperty: a Query is a promise; its answer is settle's
      then: (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) =>
        streamed(query)
          ? Promise.prototype.then.call(query.execute(), onFulfilled, onRejected)
          : run().then(onFulfilled, onRejected),
      catch: (onRejected?: (e: unknown) => unknown) => run().catch(onRejected),
      finally: (onFinally?: () => void) => run().finally(onFinally),
      // Cursors, forEach and execute() run the query object itself, once, without retries.
      handler: (self: AnyQuery) => {
        Promise.resolve(generation()).then(
          (gen) => {
            // v4 builds the query with `handler.options` and cancels through `handler.cancel`.
            const own = (gen.sql.unsafe('') as unknown as AnyQuery).handler
            self.handler = own
            own(self)
          },
          (err: unknown) => (self as unknown as { reject(e: unknown): void }).reject(err),
        )
      },
    })
    return made
  }

  /** `begin(…)` on the current generation; retried like a never-ran statement until it starts. */
  async function begin(...args: unknown[]): Promise<unknown> {
    const fn = args.at(-1) as (sql: postgres.TransactionSql) => unknown
    let started = false
    let connectionRetried = false
    const since = performance.now()
    let budget: RetryBudget | undefined
    for (;;) {
      const gen = await (budget !== undefined && budget.refusals > 0
        ? generationAfterRefusal(budget)
        : generation())
      try {
        const begun = (gen.sql.begin as (...a: unknown[]) => Promise<unknown>)(
          ...args.slice(0, -1),
          (tx: postgres.TransactionSql) => {
            started = true
            return fn(tx)
          },
        )
        const result = await begun
        gen.answered = true
        return result
      } catch (err) {
        const rule = ruleFor(err)
        if (retires(rule)) retire(gen)
        if (started) throw err
        budget ??= new RetryBudget(wakeTimeoutMs, since)
        const wait = rule.retry === 'login' ? budget.refusedLogin(err) : undefined
        if (wait !== undefined) {
          credentials.forget()
          await pause(wait)
        } else if (rule.retry === 'unless-ran' && !connectionRetried) {
          connectionRetried = true
        } else {
          throw err
        }
      }
    }
  }

  /** A connection of its own; a login that fails is retried as for a statement that never ran. */
  async function reserve(): Promise<postgres.ReservedSql> {
    const since = performance.now()
    let budget: RetryBudget | undefined
    for (;;) {
      const gen = await (budget !== undefined && budget.refusals > 0
        ? generationAfterRefusal(budget)
        : generation())
      try {
        const reserved = await gen.sql.reserve()
        // drizzle reads the parser tables from `options`, which postgres.js leaves off here.
        return Object.assign(reserved, { options: gen.sql.options })
      } catch (err) {
        const rule = ruleFor(err)
        if (retires(rule)) retire(gen)
        budget ??= new RetryBudget(wakeTimeoutMs, since)
        const wait = rule.retry === 'login' ? budget.refusedLogin(err) : undefined
        if (wait !== undefined) {
          credentials.forget()
          await pause(wait)
        } else if (!(rule.retry === 'unless-ran' && budget.unran())) {
          throw err
        }
      }
    }
  }

  async function end(endOptions?: { timeout?: number | undefined }): Promise<void> {
    const gen = current
    current = undefined
    await Promise.all([gen?.sql.end(endOptions), base.end({ timeout: 0 })])
  }

  const facade = new Proxy(base, {
    apply(target, thisArg, args: unknown[]) {
      const made = Reflect.apply(target, thisArg, args)
      const first = args[0] as { raw?: unknown } | undefined
      return Array.isArray(first?.raw) ? wire(made) : made
    },
    get(target, property, receiver) {
      switch (property) {
        case 'unsafe':
          return (...args: Parameters<postgres.Sql['unsafe']>) => wire(target.unsafe(...args))
        case 'begin':
          return begin
        case 'end':
        case 'close':
          return end
        case 'reserve':
          return reserve
        case 'listen':
        case 'notify':
        case 'subscribe':
        case 'file':
        case 'largeObject':
          return async (...args: unknown[]) => {
            const sql = (await generation()).sql as unknown as Record<
              string,
              (...a: unknown[]) => unknown
            >
            return sql[property]?.(...args)
          }
        default:
          return Reflect.get(target, property, receiver)
      }
    },
  }) as postgres.Sql
  stats.set(facade, () => ({
    max,
    open: socket ? sockets.open : Math.max(0, counters.logins - counters.closes),
    logins: counters.logins,
    closes: socket ? sockets.closed : counters.closes,
    login_user: current?.user ?? null,
  }))
  // postgres.js counts no idle or waiting connections where a caller can read them: total only.
  watchPool(facade, { driver: 'postgres', target: credentials.target }, (sql) => {
    const open = sqlStats(sql)?.open
    return open === undefined ? undefined : { total: open }
  })
  return facade
}

function envSslMode(env: Env): SslMode | undefined {
  const mode = envValue(env, 'PGSSLMODE')
  if (mode === undefined) return undefined
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new LakebaseOptionError('env.PGSSLMODE', `must be one of ${SSL_MODES.join(', ')}`)
  }
  return mode as SslMode
}

function checkOptions(options: CreateSqlOptions): void {
  for (const name of FROM_CREDENTIAL) {
    if (name in options) {
      throw new LakebaseOptionError(name, 'comes from the broker credential and cannot be set')
    }
  }
  const c = options.credentials
  if (
    c !== undefined &&
    (typeof c?.get !== 'function' ||
      typeof c.current !== 'function' ||
      typeof c.password !== 'function' ||
      typeof c.forget !== 'function')
  ) {
    throw new LakebaseOptionError('credentials', 'must be a brokerCredentials() client')
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') {
    throw new LakebaseOptionError('readOnly', 'must be true or false')
  }
  if (options.sslMode !== undefined && !SSL_MODES.includes(options.sslMode)) {
    throw new LakebaseOptionError('sslMode', `must be one of ${SSL_MODES.join(', ')}`)
  }
  const positiveInt = (name: 'max', v: unknown) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) > 0)) {
      throw new LakebaseOptionError(name, 'must be a positive integer')
    }
  }
  positiveInt('max', options.max)
  const seconds = ['idle_timeout', 'connect_timeout', 'max_lifetime', 'wakeTimeoutMs'] as const
  for (const name of seconds) {
    const v = options[name]
    if (v !== undefined && v !== null && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) {
      throw new LakebaseOptionError(name, 'must be a number ≥ 0')
    }
  }
  if (options.connection !== undefined && typeof options.connection !== 'object') {
    throw new LakebaseOptionError('connection', 'must be an object of Postgres settings')
  }
  if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) {
    throw new LakebaseOptionError('env', 'must be an object of environment variables')
  }
  envSslMode(options.env ?? process.env)
}
