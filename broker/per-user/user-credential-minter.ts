import { randomUUID } from 'node:crypto'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { autoscalingDatabaseToken } from '../../shared/databricks/autoscaling.js'
import { databaseTokenExpiry, readTokenClaims } from '../../shared/databricks/database-token.js'
import type { DatabricksSettings } from '../../shared/databricks/lakebase-settings.js'
import { resolvePostgresUser } from '../../shared/databricks/postgres-user.js'
import {
  type IssuedDatabaseToken,
  provisionedDatabaseToken,
} from '../../shared/databricks/provisioned.js'
import { toUpstreamError, UpstreamError } from '../../shared/databricks/upstream-error.js'
import {
  type BoundWorkspaceCall,
  bindWorkspaceCall,
} from '../../shared/databricks/workspace-http.js'

/** What a {@link UserCredentialMinter} needs; `fetch`, `clock` and `randomUUID` have defaults. */
export interface UserCredentialMinterOptions {
  /** The target's settings, as its `databricks` provider reads them. */
  settings: DatabricksSettings
  /** The workspace URL the app signs in to; the user's token is for the same workspace. */
  workspaceHost: string
  /**
   * The Postgres host: the target's `PGHOST`, else the one the app's own credential carries
   * (already looked up), so a user's request costs one workspace call, not a lookup too.
   */
  postgresHost: () => Promise<string>
  fetch?: typeof globalThis.fetch
  clock?: Clock
  randomUUID?: () => string
}

/**
 * Mints a database credential for an end user, on their behalf: the same credential call as the
 * target's `databricks` provider (`POST /api/2.0/database/credentials` or
 * `/api/2.0/postgres/credentials`) with the user's access token as the bearer instead of the
 * app's. The Postgres role is the user's own: the minted token's `sub`, else SCIM `Me` asked with
 * the user's token — never the target's `PGUSER`, which names the app's role.
 *
 * Its `expiresAt` is the earliest of the database token's expiry and the user token's own `exp`
 * (when it is a JWT), so nothing is served on behalf of a token that has run out. It never
 * caches; {@link import('./user-credential-cache.js').UserCredentialCache} does.
 */
export class UserCredentialMinter {
  readonly #options: UserCredentialMinterOptions
  readonly #clock: Clock
  readonly #randomUUID: () => string

  constructor(options: UserCredentialMinterOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#randomUUID = options.randomUUID ?? randomUUID
  }

  /** @throws UpstreamError (`unauthorized`/`forbidden` when the workspace refuses the user) */
  async mint(userToken: string, signal: AbortSignal): Promise<ProviderCredential> {
    try {
      return await this.#mint(userToken, signal)
    } catch (err) {
      throw toUpstreamError(err)
    }
  }

  async #mint(userToken: string, signal: AbortSignal): Promise<ProviderCredential> {
    const { settings } = this.#options
    const issuedAt = this.#clock.now()
    const call = bindWorkspaceCall(this.#options.workspaceHost, userToken, signal, {
      fetch: this.#options.fetch,
      clock: this.#clock,
    })
    const issued = await this.#mintDatabaseToken(call)
    const now = this.#clock.now()
    const claims = readTokenClaims(issued.token)
    const databaseExpiry = databaseTokenExpiry(issued.statedExpiry, claims, now).getTime()
    const userTokenExp = readTokenClaims(userToken).exp
    const userTokenExpiry =
      userTokenExp === undefined ? Number.POSITIVE_INFINITY : userTokenExp * 1000
    const expiresAt = new Date(Math.min(databaseExpiry, userTokenExpiry))
    if (expiresAt.getTime() <= now) {
      throw new UpstreamError(
        'unauthorized',
        `the user's access token or its database credential expired at ${expiresAt.toISOString()}`,
        { upstreamStatus: 401 },
      )
    }
    const user = await resolvePostgresUser({
      configured: undefined,
      tokenSubject: claims.sub,
      call,
    })
    return {
      user,
      password: issued.token,
      host: settings.postgres.host ?? (await this.#options.postgresHost()),
      port: settings.postgres.port,
      database: settings.postgres.database,
      ssl: settings.postgres.ssl,
      expiresAt,
      issuedAt: new Date(issuedAt),
      source: 'databricks',
    }
  }

  #mintDatabaseToken(call: BoundWorkspaceCall): Promise<IssuedDatabaseToken> {
    const { target, credential } = this.#options.settings
    return target.kind === 'provisioned'
      ? provisionedDatabaseToken(call, target.instanceName, this.#randomUUID(), credential.claims)
      : autoscalingDatabaseToken(call, target.endpoint, credential)
  }
}
