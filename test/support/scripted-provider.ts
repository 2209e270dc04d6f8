import type { CredentialProvider } from '../../broker/providers/provider.js'
import type { Clock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { type Deferred, deferred } from './deferred.js'

/**
 * A provider whose every fetch is answered by the test: `next` resolves or rejects the oldest
 * pending fetch. It counts calls and mints a distinct password per credential.
 */
export class ScriptedProvider implements CredentialProvider {
  readonly source = 'static' as const
  readonly pending: Deferred<ProviderCredential>[] = []
  calls = 0
  private minted = 0

  constructor(private readonly clock: Clock) {}

  fetch(): Promise<ProviderCredential> {
    this.calls += 1
    const d = deferred<ProviderCredential>()
    this.pending.push(d)
    return d.promise
  }

  describe() {
    return { source: this.source }
  }

  /** A credential issued now that lives `lifetimeMs`. */
  credential(lifetimeMs: number): ProviderCredential {
    this.minted += 1
    const now = this.clock.now()
    return {
      user: 'alice@example.com',
      password: `password-${this.minted}`,
      host: 'instance-1.database.cloud.databricks.com',
      port: 5432,
      database: 'databricks_postgres',
      ssl: 'require',
      issuedAt: new Date(now),
      expiresAt: new Date(now + lifetimeMs),
      source: 'static',
    }
  }

  /** Answers the oldest pending fetch with a fresh credential of the given lifetime. */
  succeed(lifetimeMs: number): ProviderCredential {
    const credential = this.credential(lifetimeMs)
    this.take().resolve(credential)
    return credential
  }

  fail(error: unknown): void {
    this.take().reject(error)
  }

  private take(): Deferred<ProviderCredential> {
    const d = this.pending.shift()
    if (!d) throw new Error('no fetch is pending')
    return d
  }
}
