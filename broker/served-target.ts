import type { CachedCredential } from './credential-cache.js'

/**
 * What the HTTP layer serves one target from: a {@link import('./credential-cache.js').CredentialCache},
 * or a {@link import('./read-only-companion.js').ReadOnlyCompanion} reading its primary's cache.
 * Both answer, fail and take refusal reports the same way; only a cache fetches.
 */
export interface ServedTarget {
  readonly target: string
  /**
   * The target whose credential this one serves (a read-only companion's primary): a client
   * allowed the primary may read this one too. Undefined for a target with a cache of its own.
   */
  readonly primary?: string | undefined
  /** A credential to hand out now, fetching one if need be; see `CredentialCache.get`. */
  get(): Promise<CachedCredential>
  /** The credential to hand out now without waiting, or undefined; see `CredentialCache.peek`. */
  peek(): CachedCredential | undefined
  /** A client reports that Postgres refused `version`; see `CredentialCache.refused`. */
  refused(version: string): Promise<CachedCredential>
}
