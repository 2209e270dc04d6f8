import type postgres from 'postgres'
import type { BrokerCredentials } from '../client/broker-client.js'
import { type Clock, systemClock } from '../client/clock.js'
import type { Credential } from '../client/credential.js'
import { LakebaseError } from '../client/errors.js'
import { createSql } from '../postgres/create-sql.js'
import type { Env } from '../process/env.js'

/** A user's requests come one or two at a time: two connections serve them without a queue. */
export const USER_POOL_MAX = 2
/** A user's connection idle this long is closed by postgres.js: users come and go in minutes. */
export const USER_POOL_IDLE_TIMEOUT_S = 60
/**
 * A user's pool unused this long is ended and forgotten (it holds no connection by then, see
 * {@link USER_POOL_IDLE_TIMEOUT_S}); a returning user gets a new one, at the cost of one login.
 */
export const USER_POOL_IDLE_MS = 5 * 60_000
/**
 * At most this many users' pools at once, least recently used ended first: with
 * {@link USER_POOL_MAX} each, 200 connections, within Lakebase's per-instance limits.
 */
export const MAX_USER_POOLS = 100
/** An ended pool lets its statements in flight finish for this long. */
const USER_POOL_DRAIN_S = 5

/** How the per-user pools of `lakebase({ asUser })` are sized and retired. */
export interface UserPoolOptions {
  /** Connections per user. @default 2 */
  max?: number
  /** postgres.js `idle_timeout` of each user's connections, in seconds. @default 60 */
  idleTimeoutS?: number
  /** A user's pool unused this long is ended, in ms. @default 300000 (5 minutes) */
  idleMs?: number
  /** Users with a pool at once; the least recently used is ended beyond it. @default 100 */
  maxUsers?: number
  /** Reads the time for the idle sweep (tests). @default the system clock */
  clock?: Clock
}

/** One request's use of a user's pool; `release()` when the request is done. */
export interface UserLease {
  /** The Postgres role the user's token logs in as (their identity, proven by the broker). */
  user: string
  sql: postgres.Sql
  release(): void
}

interface UserPool {
  identity: string
  sql: postgres.Sql
  /** The newest client whose credential is this identity's: the only one this pool logs in with. */
  source: BrokerCredentials
  lastUsed: number
  active: number
}

/**
 * Small postgres.js pools, one per end user, keyed by the identity the broker minted for (never
 * by a header the client could choose): a token reaches a pool only once the broker has said the
 * credential it mints is for that pool's role, and each pool checks it again at every login, so
 * another user's token never logs in to alice's pool. Pools unused for `idleMs` are ended.
 */
export class UserPools {
  readonly #credentials: BrokerCredentials
  readonly #env: Env
  readonly #clock: Clock
  readonly #max: number
  readonly #idleTimeoutS: number
  readonly #idleMs: number
  readonly #maxUsers: number
  /** Map order is recency order. */
  readonly #pools = new Map<string, UserPool>()

  constructor(credentials: BrokerCredentials, env: Env, options: UserPoolOptions = {}) {
    this.#credentials = credentials
    this.#env = env
    this.#clock = options.clock ?? systemClock
    this.#max = options.max ?? USER_POOL_MAX
    this.#idleTimeoutS = options.idleTimeoutS ?? USER_POOL_IDLE_TIMEOUT_S
    this.#idleMs = options.idleMs ?? USER_POOL_IDLE_MS
    this.#maxUsers = options.maxUsers ?? MAX_USER_POOLS
  }

  /** The identities with a pool, least recently used first. */
  identities(): string[] {
    return [...this.#pools.keys()]
  }

  /**
   * The pool of the user `userToken` belongs to.
   * @throws LakebaseError from the broker (401 `USER_TOKEN_REJECTED`, 503 `CREDENTIAL_UNAVAILABLE`, …)
   */
  async acquire(userToken: string): Promise<UserLease> {
    const source = this.#forUser(userToken)
    const { user } = await source.get()
    this.sweep()
    let pool = this.#pools.get(user)
    if (pool) this.#pools.delete(user)
    else pool = this.#open(user, source)
    pool.source = source
    pool.active += 1
    pool.lastUsed = this.#clock.now()
    this.#pools.set(user, pool)
    this.#bound()
    const leased = pool
    let released = false
    return {
      user,
      sql: pool.sql,
      release: () => {
        if (released) return
        released = true
        leased.active -= 1
        leased.lastUsed = this.#clock.now()
      },
    }
  }

  /** Ends the pools unused for `idleMs` with no request in flight. */
  sweep(): void {
    const now = this.#clock.now()
    for (const pool of this.#pools.values()) {
      if (pool.active === 0 && now - pool.lastUsed >= this.#idleMs) this.#end(pool)
    }
  }

  /** Ends every pool. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(pools.map((p) => p.sql.end({ timeout: USER_POOL_DRAIN_S })))
  }

  #forUser(userToken: string): BrokerCredentials {
    const forUser = this.#credentials.forUser
    if (!forUser) throw new Error('these credentials cannot ask for a user')
    return forUser.call(this.#credentials, userToken)
  }

  #open(identity: string, source: BrokerCredentials): UserPool {
    const pool: UserPool = {
      identity,
      source,
      lastUsed: this.#clock.now(),
      active: 0,
      sql: undefined as unknown as postgres.Sql,
    }
    pool.sql = createSql({
      credentials: identityBound(pool),
      env: this.#env,
      max: this.#max,
      idle_timeout: this.#idleTimeoutS,
    })
    return pool
  }

  /** Beyond `maxUsers`, ends the least recently used pools that have no request in flight. */
  #bound(): void {
    for (const pool of this.#pools.values()) {
      if (this.#pools.size <= this.#maxUsers) break
      if (pool.active === 0) this.#end(pool)
    }
  }

  #end(pool: UserPool): void {
    this.#pools.delete(pool.identity)
    void pool.sql.end({ timeout: USER_POOL_DRAIN_S }).catch(() => {})
  }
}

/**
 * The credentials one user's pool logs in with: its current source, refused unless the
 * credential is for the pool's own identity — a second check behind the pool's key.
 */
function identityBound(pool: UserPool): BrokerCredentials {
  const checked = (credential: Credential): Credential => {
    if (credential.user !== pool.identity) {
      throw new LakebaseError(
        503,
        'CREDENTIAL_UNAVAILABLE',
        "the broker's credential is for another user than this pool's",
        { retryAfter: 1 },
      )
    }
    return credential
  }
  const bound: BrokerCredentials = {
    get target() {
      return pool.source.target
    },
    async get() {
      return checked(await pool.source.get())
    },
    current() {
      const held = pool.source.current()
      return held?.user === pool.identity ? held : undefined
    },
    async password() {
      try {
        return (await bound.get()).password
      } catch {
        return ''
      }
    },
    forget(version) {
      pool.source.forget(version)
    },
  }
  return bound
}
