import { randomUUID } from 'node:crypto'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import {
  autoscalingDatabaseToken,
  autoscalingEndpointHost,
} from '../../shared/databricks/autoscaling.js'
import { databaseTokenExpiry, readTokenClaims } from '../../shared/databricks/database-token.js'
import type { DatabricksSettings } from '../../shared/databricks/lakebase-settings.js'
import { resolvePostgresUser } from '../../shared/databricks/postgres-user.js'
import {
  type InstanceHosts,
  type IssuedDatabaseToken,
  provisionedDatabaseToken,
  provisionedInstanceHost,
} from '../../shared/databricks/provisioned.js'
import { toUpstreamError, UpstreamError } from '../../shared/databricks/upstream-error.js'
import type { WorkspaceAuth } from '../../shared/databricks/workspace-auth.js'
import {
  type BoundWorkspaceCall,
  bindWorkspaceCall,
} from '../../shared/databricks/workspace-http.js'
import type { CredentialProvider } from './provider.js'

/** What a {@link DatabricksProvider} needs; everything but `settings` and `auth` has a default. */
export interface DatabricksProviderOptions {
  settings: DatabricksSettings
  /** Signs the workspace calls; from `resolveWorkspaceAuth`. */
  auth: WorkspaceAuth
  /** Defaults to `globalThis.fetch` (read at call time, so MSW can intercept it). */
  fetch?: typeof globalThis.fetch
  clock?: Clock
  /** Makes the `request_id` of Provisioned credential requests; a UUID v4. */
  randomUUID?: () => string
  /** Overrides `WORKSPACE_CALL_TIMEOUT_MS` for each workspace call. */
  timeoutMs?: number
}

/**
 * Lakebase credentials from a Databricks workspace: a workspace token (from `auth`), then a
 * database token for the Provisioned instance or Autoscaling endpoint, its host (given or looked
 * up, checking that the database accepts connections), and the Postgres user. A looked-up
 * Provisioned instance's `read_only_dns` comes along as `readOnlyHost`, for the target's
 * read-only companion.
 *
 * The credential's `expiresAt` is the database token's own: Postgres checks that token, not the
 * workspace token it was minted with (which workspace auth refreshes at its half-life, so that a
 * mint never waits on one in its last minutes). Like every provider it never caches: each `fetch`
 * asks the workspace again; the credential cache decides how often that happens.
 */
export class DatabricksProvider implements CredentialProvider {
  readonly source = 'databricks' as const
  readonly #settings: DatabricksSettings
  readonly #auth: WorkspaceAuth
  readonly #clock: Clock
  readonly #randomUUID: () => string
  readonly #http: { fetch?: typeof globalThis.fetch; clock: Clock; timeoutMs?: number }

  constructor(options: DatabricksProviderOptions) {
    this.#settings = options.settings
    this.#auth = options.auth
    this.#clock = options.clock ?? systemClock
    this.#randomUUID = options.randomUUID ?? randomUUID
    this.#http = { fetch: options.fetch, clock: this.#clock, timeoutMs: options.timeoutMs }
  }

  async fetch(signal: AbortSignal): Promise<ProviderCredential> {
    try {
      return await this.#fetch(signal)
    } catch (err) {
      throw toUpstreamError(err)
    }
  }

  async #fetch(signal: AbortSignal): Promise<ProviderCredential> {
    const issuedAt = this.#clock.now()
    const workspace = await this.#auth.token(signal)
    const call = bindWorkspaceCall(this.#auth.host, workspace.accessToken, signal, this.#http)
    const postgres = this.#settings.postgres

    // The host lookup comes first: it checks that the database accepts connections before a
    // token is minted for it.
    const { host, readOnlyHost } =
      postgres.host === undefined
        ? await this.#lookUpHost(call)
        : { host: postgres.host, readOnlyHost: undefined }
    const issued = await this.#mintDatabaseToken(call)

    const now = this.#clock.now()
    const claims = readTokenClaims(issued.token)
    const expiresAt = databaseTokenExpiry(issued.statedExpiry, claims, now)
    if (expiresAt.getTime() <= now) {
      throw new UpstreamError(
        'malformed_response',
        `the workspace returned a database credential that expired at ${expiresAt.toISOString()}`,
      )
    }

    const user = await resolvePostgresUser({
      configured: postgres.user,
      tokenSubject: claims.sub,
      call,
    })
    return {
      user,
      password: issued.token,
      host,
      port: postgres.port,
      database: postgres.database,
      ssl: postgres.ssl,
      expiresAt,
      issuedAt: new Date(issuedAt),
      source: this.source,
      ...(readOnlyHost === undefined ? {} : { readOnlyHost }),
    }
  }

  /**
   * The instance's `read_only_dns` for a Provisioned target whose host is given (`PGHOST`, as in
   * Databricks Apps), where no fetch looks the instance up: one `GET` of the instance, asked by
   * the broker when a client first wants the target's read-only companion.
   */
  async lookUpReadOnlyHost(signal: AbortSignal): Promise<string | undefined> {
    const target = this.#settings.target
    if (target.kind !== 'provisioned') return undefined
    try {
      const workspace = await this.#auth.token(signal)
      const call = bindWorkspaceCall(this.#auth.host, workspace.accessToken, signal, this.#http)
      return (await provisionedInstanceHost(call, target.instanceName)).readOnlyHost
    } catch (err) {
      throw toUpstreamError(err)
    }
  }

  /** The host to connect to and, for a Provisioned instance with readable secondaries, theirs. */
  async #lookUpHost(call: BoundWorkspaceCall): Promise<InstanceHosts> {
    const target = this.#settings.target
    return target.kind === 'provisioned'
      ? provisionedInstanceHost(call, target.instanceName, { readOnly: target.readOnly })
      : { host: await autoscalingEndpointHost(call, target.endpoint), readOnlyHost: undefined }
  }

  #mintDatabaseToken(call: BoundWorkspaceCall): Promise<IssuedDatabaseToken> {
    const target = this.#settings.target
    return target.kind === 'provisioned'
      ? provisionedDatabaseToken(
          call,
          target.instanceName,
          this.#randomUUID(),
          this.#settings.credential.claims,
        )
      : autoscalingDatabaseToken(call, target.endpoint, this.#settings.credential)
  }

  describe(): Record<string, unknown> {
    const { target, postgres } = this.#settings
    return {
      source: this.source,
      method: this.#auth.method,
      host: this.#auth.host,
      ...(target.kind === 'provisioned'
        ? { instance: target.instanceName, ...(target.readOnly ? { readOnly: true } : {}) }
        : { endpoint: target.endpoint }),
      database: postgres.database,
      pgHost: postgres.host ?? 'looked up',
      pgUser: postgres.user ?? 'from the token',
      ...(this.#settings.credential.ttlS === undefined
        ? {}
        : { credentialTtlS: this.#settings.credential.ttlS }),
      ...(this.#settings.credential.claims === undefined
        ? {}
        : { claims: this.#settings.credential.claims.length }),
    }
  }
}
