import type { CachedCredential } from './credential-cache.js'

/** Where a refresh's followers read the new credential: a cache, or a read-only companion's view. */
export interface HeldSource {
  get(): Promise<CachedCredential>
}

/**
 * The credential `source` holds, read right after a successful refresh (when `get()` answers it
 * without fetching, and counts as one credential served, which it is); undefined when it is gone
 * again already (or a companion has no read-only host), for the next refresh to bring. Never
 * rejects.
 */
export async function heldCredential(
  source: HeldSource | undefined,
): Promise<CachedCredential | undefined> {
  try {
    return await source?.get()
  } catch {
    return undefined
  }
}
