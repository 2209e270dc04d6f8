import { randomUUID } from 'node:crypto'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { toUpstreamError, UpstreamError } from '../../shared/databricks/upstream-error.js'
import { type RefreshPolicy, refreshSchedule } from '../refresh-schedule.js'
import { REFUSED_TOKEN_MEMORY_MS, UserMintLimiter } from './mint-limiter.js'
import type { UserCredentialMinter } from './user-credential-minter.js'
import { tokenFingerprint } from './user-token.js'

/**
 * At most this many users' credentials are held per target (least recently used leave first).
 * Each entry is about 2 KB (a database token and its fields), so a full cache is ~2 MB; an app
 * with more concurrently active users than this pays one workspace call per user once evicted.
 */
export const PER_USER_MAX_ENTRIES = 1_000
/** One mint (one workspace call, sometimes two) gets this long, as a target's provider fetch. */
export const PER_USER_MINT_TIMEOUT_MS = 15_000

/** A user's credential as the per-user cache holds it. */
export interface CachedUserCredential {
  credential: ProviderCredential
  /** Opaque, non-secret; changes with every mint. */
  version: string
  refreshAt: number
  serveUntil: number
  /** True when served past its refresh point because the refresh failed. */
  stale: boolean
}

export interface UserCredentialCacheOptions {
  /** Mints a user's credential with their token; a {@link UserCredentialMinter} (tests: any). */
  minter: Pick<UserCredentialMinter, 'mint'>
  policy: RefreshPolicy
  clock?: Clock
  /** @default {@link PER_USER_MAX_ENTRIES} */
  maxEntries?: number
  /** @default {@link PER_USER_MINT_TIMEOUT_MS} */
  mintTimeoutMs?: number
  /** Bounds each client's mints for tokens not held; one shared by every target. */
  limiter?: UserMintLimiter
}

/** A client sent more user tokens the broker holds nothing for than its limit allows. */
export class UserMintRateLimitedError extends Error {
  constructor(readonly retryAfterS: number) {
    super('too many workspace calls for user tokens the broker holds no credential for')
    this.name = 'UserMintRateLimitedError'
  }
}

/**
 * One target's per-user credentials, keyed by the SHA-256 fingerprint of the user's token (the
 * token itself is never stored), in a bounded LRU. Concurrent requests with one token share one
 * mint (single flight per user); a failed mint is never cached. An entry is dropped once it may
 * no longer be served (`BROKER_MIN_TTL_S` before expiry), and re-minted on demand after its
 * refresh point; the last good one is served, marked stale, while a transient failure lasts —
 * but a refused user token (401/403) drops it at once: the user's access is the workspace's call.
 */
export class UserCredentialCache {
  readonly #minter: Pick<UserCredentialMinter, 'mint'>
  readonly #policy: RefreshPolicy
  readonly #clock: Clock
  readonly #maxEntries: number
  readonly #mintTimeoutMs: number
  readonly #limiter: UserMintLimiter
  /** Map order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, CachedUserCredential>()
  readonly #inFlight = new Map<string, Promise<CachedUserCredential>>()

  constructor(options: UserCredentialCacheOptions) {
    this.#minter = options.minter
    this.#policy = options.policy
    this.#clock = options.clock ?? systemClock
    this.#maxEntries = options.maxEntries ?? PER_USER_MAX_ENTRIES
    this.#mintTimeoutMs = options.mintTimeoutMs ?? PER_USER_MINT_TIMEOUT_MS
    this.#limiter = options.limiter ?? new UserMintLimiter(this.#clock)
  }

  /** How many users' credentials are held. */
  get size(): number {
    return this.#entries.size
  }

  /** Whether a credential is held for this token (tests; it reveals nothing of the token). */
  holds(userToken: string): boolean {
    return this.#entries.has(tokenFingerprint(userToken))
  }

  /**
   * The user's credential: from memory until its refresh point, else minted with the token. A
   * token held nothing for costs `client` one of its mints ({@link UserMintLimiter}); one the
   * workspace refused moments ago is refused again without asking.
   * @throws UpstreamError when there is none to serve
   * @throws UserMintRateLimitedError when `client` is over its limit
   */
  async get(userToken: string, client = ''): Promise<CachedUserCredential> {
    const key = tokenFingerprint(userToken)
    const now = this.#clock.now()
    const held = this.#entries.get(key)
    if (held && now >= held.serveUntil) this.#entries.delete(key)
    else if (held) {
      this.#entries.delete(key)
      this.#entries.set(key, held)
      if (now < held.refreshAt) return held
      try {
        return await this.#mint(key, userToken, client)
      } catch (err) {
        const failure = toUpstreamError(err)
        const refusedUser =
          failure.errorClass === 'unauthorized' || failure.errorClass === 'forbidden'
        const still = this.#entries.get(key)
        if (!refusedUser && still && this.#clock.now() < still.serveUntil) {
          return { ...still, stale: true }
        }
        this.#entries.delete(key)
        throw failure
      }
    }
    const refusal = this.#limiter.refusalOf(key)
    if (refusal) {
      throw new UpstreamError(
        refusal.errorClass,
        `the workspace refused this token within the last ${REFUSED_TOKEN_MEMORY_MS / 1000} s`,
        { upstreamStatus: refusal.upstreamStatus, upstreamErrorCode: refusal.upstreamErrorCode },
      )
    }
    if (!this.#inFlight.has(key)) {
      const waitS = this.#limiter.take(client)
      if (waitS !== undefined) throw new UserMintRateLimitedError(waitS)
    }
    return this.#mint(key, userToken, client)
  }

  /**
   * Postgres refused the credential named `version`: if it is still the one held, mint a new one;
   * if it was already replaced, answer the current one.
   */
  async refused(userToken: string, version: string, client = ''): Promise<CachedUserCredential> {
    const key = tokenFingerprint(userToken)
    if (this.#entries.get(key)?.version === version) this.#entries.delete(key)
    return this.get(userToken, client)
  }

  #mint(key: string, userToken: string, client: string): Promise<CachedUserCredential> {
    const running = this.#inFlight.get(key)
    if (running) return running
    const attempt = this.#minter.mint(userToken, AbortSignal.timeout(this.#mintTimeoutMs)).then(
      (credential) => this.#keep(key, credential),
      (err: unknown) => {
        const failure = toUpstreamError(err)
        const { errorClass, upstreamStatus, upstreamErrorCode } = failure
        if (errorClass === 'unauthorized' || errorClass === 'forbidden') {
          this.#limiter.refused(client, key, { errorClass, upstreamStatus, upstreamErrorCode })
        }
        throw failure
      },
    )
    this.#inFlight.set(key, attempt)
    const forget = () => {
      if (this.#inFlight.get(key) === attempt) this.#inFlight.delete(key)
    }
    attempt.then(forget, forget)
    return attempt
  }

  #keep(key: string, credential: ProviderCredential): CachedUserCredential {
    const { refreshAt, serveUntil } = refreshSchedule(
      credential.issuedAt.getTime(),
      credential.expiresAt.getTime(),
      this.#policy,
      0,
    )
    const entry = { credential, version: randomUUID(), refreshAt, serveUntil, stale: false }
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#evict()
    return entry
  }

  /** Drops what may no longer be served, then the least recently used beyond the bound. */
  #evict(): void {
    const now = this.#clock.now()
    for (const [key, entry] of this.#entries) {
      if (now >= entry.serveUntil) this.#entries.delete(key)
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break
      this.#entries.delete(key)
    }
  }
}
