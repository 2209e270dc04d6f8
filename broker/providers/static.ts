import type { Clock } from '../../shared/client/clock.js'
import { systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { type Env, envValue } from '../../shared/process/env.js'
import { pgPortFrom, sslModeFrom } from '../../shared/process/pg-settings.js'
import { ConfigError } from '../config.js'
import type { CredentialProvider } from './provider.js'

/**
 * A static password does not expire, but the cache schedules by lifetime; one nominal hour
 * means the settings are re-read every half hour, which costs nothing.
 */
export const STATIC_CREDENTIAL_LIFETIME_MS = 60 * 60 * 1000

/** The `PG*` variables as given: a local or self-managed Postgres with a fixed password. */
export class StaticProvider implements CredentialProvider {
  readonly source = 'static' as const
  private readonly credential: Omit<ProviderCredential, 'issuedAt' | 'expiresAt'>

  constructor(
    env: Env,
    private readonly clock: Clock = systemClock,
  ) {
    const user = envValue(env, 'PGUSER')
    const password = envValue(env, 'PGPASSWORD')
    if (!user || !password) {
      throw new ConfigError(
        'the static provider needs PGUSER and PGPASSWORD',
        'set PGUSER and PGPASSWORD',
      )
    }
    this.credential = {
      user,
      password,
      host: envValue(env, 'PGHOST', 'LAKEBASE_HOST') ?? 'localhost',
      port: pgPortFrom(env),
      database: envValue(env, 'PGDATABASE', 'LAKEBASE_DATABASE') ?? 'postgres',
      ssl: sslModeFrom(env),
      source: 'static',
    }
  }

  async fetch(): Promise<ProviderCredential> {
    const now = this.clock.now()
    return {
      ...this.credential,
      issuedAt: new Date(now),
      expiresAt: new Date(now + STATIC_CREDENTIAL_LIFETIME_MS),
    }
  }

  describe() {
    const { host, port, database, user, ssl } = this.credential
    return { source: this.source, host, port, database, user, ssl }
  }
}
