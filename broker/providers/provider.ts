import type { CredentialSource, ProviderCredential } from '../../shared/client/credential.js'

/**
 * Fetches one credential from wherever it lives. A provider never caches: the credential cache
 * wraps it, decides when to call it and keeps what it returned.
 * Failures are thrown as {@link import('../../shared/databricks/upstream-error.js').UpstreamError}.
 */
export interface CredentialProvider {
  readonly source: CredentialSource
  /** Obtain a fresh credential. `signal` aborts the upstream calls. */
  fetch(signal: AbortSignal): Promise<ProviderCredential>
  /** What the start-up log says about this provider (never a secret). */
  describe(): Record<string, unknown>
  /** Release anything the provider holds (child processes, timers). */
  close?(): Promise<void>
  /**
   * The read-only host of its database when its credentials do not name one because the host
   * was given (a Provisioned instance's `read_only_dns`, an Autoscaling endpoint's
   * `read_only_host`, looked up on demand); undefined when there is none. Only providers that
   * can look it up have it.
   */
  lookUpReadOnlyHost?(signal: AbortSignal): Promise<string | undefined>
  /**
   * Warnings for the start-up log that need the upstream to tell (a given host the database does
   * not list); asked once, in the background, while the broker starts. Rejects when it could not
   * check.
   */
  startupWarnings?(signal: AbortSignal): Promise<string[]>
}
