import type { Credential, CredentialSource } from '../../shared/credential.js'

/**
 * Fetches one credential from wherever it lives. A provider never caches: the credential cache
 * wraps it, decides when to call it and keeps what it returned.
 * Failures are thrown as {@link import('../../shared/upstream-error.js').UpstreamError}.
 */
export interface CredentialProvider {
  readonly source: CredentialSource
  /** Obtain a fresh credential. `signal` aborts the upstream calls. */
  fetch(signal: AbortSignal): Promise<Credential>
  /** What the start-up log says about this provider (never a secret). */
  describe(): Record<string, unknown>
  /** Release anything the provider holds (child processes, timers). */
  close?(): Promise<void>
}
