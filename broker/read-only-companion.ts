import { toUpstreamError } from '../shared/databricks/upstream-error.js'
import {
  type CachedCredential,
  type CredentialCache,
  CredentialUnavailableError,
  summarize,
  type TargetStatus,
} from './credential-cache.js'
import type { ServedTarget } from './served-target.js'

/**
 * Thrown when a companion has nothing to serve: its primary's credential names no read-only host
 * (the instance or endpoint has no readable secondaries, or its host is given and the lookup
 * found none).
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
  /**
   * Where the read-only host comes from when the primary's credentials name none because its
   * host was given: asked once, on the first `get`, and kept (undefined: the instance has none).
   */
  lookUpHost?: ((signal: AbortSignal) => Promise<string | undefined>) | undefined
  /** How long that lookup may take. */
  lookUpTimeoutMs?: number
}

/**
 * A Lakebase target's read-only twin: the primary's credential, as its cache holds it (same
 * user, password, version, expiry and refresh point), with the host swapped for the read-only
 * one: a Provisioned instance's `read_only_dns`, an Autoscaling endpoint's
 * `status.hosts.read_only_host` (never its pooled host, which takes no OAuth token).
 *
 * It never fetches: a database credential is per instance (per endpoint) and logs in to the
 * primary and its readable secondaries alike, so one mint serves both, and a refusal reported
 * against the companion's version (the primary's) forces the primary's refresh. Whether it has a
 * host to offer is decided per credential, so a database that gains or loses readable
 * secondaries is followed at the next refresh.
 */
export class ReadOnlyCompanion implements ServedTarget {
  readonly target: string
  readonly primary: string
  readonly #cache: CredentialCache
  readonly #absentReason: string
  readonly #lookUpHost: ReadOnlyCompanionOptions['lookUpHost']
  readonly #lookUpTimeoutMs: number
  /** The looked-up host (or null: the instance has none), once the lookup answered. */
  #lookedUp: string | null | undefined
  #lookingUp: Promise<void> | undefined
  /** One view per primary answer, so a read allocates nothing and its bytes are built once. */
  readonly #views = new WeakMap<CachedCredential, CachedCredential>()

  constructor(options: ReadOnlyCompanionOptions) {
    this.target = options.target
    this.primary = options.primary
    this.#cache = options.cache
    this.#absentReason = options.absentReason
    this.#lookUpHost = options.lookUpHost
    this.#lookUpTimeoutMs = options.lookUpTimeoutMs ?? 10_000
  }

  peek(): CachedCredential | undefined {
    const held = this.#cache.peek()
    return held === undefined ? undefined : this.#view(held)
  }

  async get(): Promise<CachedCredential> {
    const held = await this.#asOwn(() => this.#cache.get())
    await this.#lookUpOnce(held)
    return this.#required(held)
  }

  /**
   * The credential as {@link get} gives it, but only with a host already known: it never starts
   * the lookup (the `.pgpass` file follows the primary's refreshes without asking the workspace).
   */
  known(): { get(): Promise<CachedCredential> } {
    return { get: async () => this.#required(await this.#asOwn(() => this.#cache.get())) }
  }

  async refused(version: string): Promise<CachedCredential> {
    const held = await this.#asOwn(() => this.#cache.refused(version))
    await this.#lookUpOnce(held)
    return this.#required(held)
  }

  /**
   * Asks for the read-only host when the primary's credential names none and there is a way to
   * look it up; one lookup for all callers, kept once it answered. A failed lookup is not kept:
   * the request gets 503 `CREDENTIAL_UNAVAILABLE` and the next one asks again.
   */
  async #lookUpOnce(held: CachedCredential): Promise<void> {
    const lookUp = this.#lookUpHost
    if (lookUp === undefined || held.credential.readOnlyHost !== undefined) return
    if (this.#lookedUp !== undefined) return
    this.#lookingUp ??= lookUp(AbortSignal.timeout(this.#lookUpTimeoutMs)).then(
      (host) => {
        this.#lookedUp = host ?? null
      },
      (err: unknown) => {
        this.#lookingUp = undefined
        throw new CredentialUnavailableError(
          this.target,
          summarize(toUpstreamError(err), Date.now(), held.credential.source),
          1,
        )
      },
    )
    await this.#lookingUp
  }

  /**
   * The primary's status under this name and host, or undefined while the primary holds no
   * credential naming a read-only host: the status page lists the companion only when it serves.
   * It has no schedule or history of its own; they are the primary's.
   */
  status(): TargetStatus | undefined {
    const status = this.#cache.status()
    const { readOnlyHost, ...rest } = status
    const host = readOnlyHost ?? this.#lookedUp ?? undefined
    if (host === undefined) return undefined
    return { ...rest, target: this.target, host }
  }

  #view(held: CachedCredential): CachedCredential | undefined {
    const host = held.credential.readOnlyHost ?? this.#lookedUp ?? undefined
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
