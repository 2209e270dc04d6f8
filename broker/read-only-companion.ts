import {
  type CachedCredential,
  type CredentialCache,
  CredentialUnavailableError,
  type TargetStatus,
} from './credential-cache.js'
import type { ServedTarget } from './served-target.js'

/**
 * Thrown when a companion has nothing to serve: its primary's credential names no read-only host
 * (the instance has no readable secondaries, or its host is given and nothing was looked up).
 * The broker answers it 404 `UNKNOWN_TARGET` with the reason.
 */
export class NoReadOnlyHostError extends Error {
  constructor(
    readonly target: string,
    readonly primary: string,
    message: string,
  ) {
    super(message)
    this.name = 'NoReadOnlyHostError'
  }
}

export interface ReadOnlyCompanionOptions {
  /** Its own name, `<primary>-ro`. */
  target: string
  /** The primary's name and cache: the only place its credential comes from. */
  primary: string
  cache: CredentialCache
  /** Why there is no read-only host when there is none: the 404's message. */
  absentReason: string
}

/**
 * A Lakebase Provisioned target's read-only twin: the primary's credential, as its cache holds
 * it (same user, password, version, expiry and refresh point), with the host swapped for the
 * instance's `read_only_dns`.
 *
 * It never fetches: a Provisioned database credential is per instance and logs in to the primary
 * and its readable secondaries alike, so one mint serves both, and a refusal reported against the
 * companion's version (the primary's) forces the primary's refresh. Whether it has a host to offer
 * is decided per credential, so an instance that gains or loses readable secondaries is followed
 * at the next refresh.
 */
export class ReadOnlyCompanion implements ServedTarget {
  readonly target: string
  readonly primary: string
  readonly #cache: CredentialCache
  readonly #absentReason: string
  /** One view per primary answer, so a read allocates nothing and its bytes are built once. */
  readonly #views = new WeakMap<CachedCredential, CachedCredential>()

  constructor(options: ReadOnlyCompanionOptions) {
    this.target = options.target
    this.primary = options.primary
    this.#cache = options.cache
    this.#absentReason = options.absentReason
  }

  peek(): CachedCredential | undefined {
    const held = this.#cache.peek()
    return held === undefined ? undefined : this.#view(held)
  }

  async get(): Promise<CachedCredential> {
    return this.#required(await this.#asOwn(() => this.#cache.get()))
  }

  async refused(version: string): Promise<CachedCredential> {
    return this.#required(await this.#asOwn(() => this.#cache.refused(version)))
  }

  /**
   * The primary's status under this name and host, or undefined while the primary holds no
   * credential naming a read-only host: the status page lists the companion only when it serves.
   * It has no schedule or history of its own; they are the primary's.
   */
  status(): TargetStatus | undefined {
    const status = this.#cache.status()
    if (status.readOnlyHost === undefined) return undefined
    const { readOnlyHost, ...rest } = status
    return { ...rest, target: this.target, host: readOnlyHost }
  }

  #view(held: CachedCredential): CachedCredential | undefined {
    const host = held.credential.readOnlyHost
    if (host === undefined) return undefined
    let view = this.#views.get(held)
    if (view === undefined) {
      const { readOnlyHost: _, ...credential } = held.credential
      view = { ...held, credential: { ...credential, host } }
      this.#views.set(held, view)
    }
    return view
  }

  #required(held: CachedCredential): CachedCredential {
    const view = this.#view(held)
    if (view === undefined)
      throw new NoReadOnlyHostError(this.target, this.primary, this.#absentReason)
    return view
  }

  /** The primary's failure, named for this target: a client asked for this one. */
  async #asOwn(read: () => Promise<CachedCredential>): Promise<CachedCredential> {
    try {
      return await read()
    } catch (err) {
      if (err instanceof CredentialUnavailableError) {
        throw new CredentialUnavailableError(this.target, err.lastError, err.retryAfterS)
      }
      throw err
    }
  }
}
