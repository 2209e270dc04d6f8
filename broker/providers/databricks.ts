import { randomUUID } from 'node:crypto'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import {
  autoscalingDatabaseToken,
  autoscalingEndpointHost,
  lookUpEndpoint,
} from '../../shared/databricks/autoscaling.js'
import { databaseTokenExpiry, readTokenClaims } from '../../shared/databricks/database-token.js'
import {
  givenHostProblem,
  isCheckableHost,
  type ListedHosts,
} from '../../shared/databricks/host-check.js'
import type { DatabricksSettings } from '../../shared/databricks/lakebase-settings.js'
import { resolvePostgresUser } from '../../shared/databricks/postgres-user.js'
import {
  type InstanceHosts,
  type IssuedDatabaseToken,
  lookUpInstance,
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
 * database token for the Provisioned instance or Autoscaling endpoint (the group's, with
 * `LAKEBASE_GROUP`), its host (given or looked up, checking that the database can serve), and the
 * Postgres user. A looked-up read-only host (Provisioned `read_only_dns`, Autoscaling
 * `status.hosts.read_only_host`) comes along as `readOnlyHost`, for the target's read-only
 * companion.
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
      group: this.#settings.credential.groupName,
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
   * The read-only host (Provisioned `read_only_dns`, Autoscaling `status.hosts.read_only_host`)
   * of a target whose host is given (`PGHOST`, as in Databricks Apps), where no fetch looks the
   * database up: one lookup, asked by the broker when a client first wants the target's
   * read-only companion.
   */
  async lookUpReadOnlyHost(signal: AbortSignal): Promise<string | undefined> {
    try {
      return (await this.#listedHosts(signal)).readOnlyHost
    } catch (err) {
      throw toUpstreamError(err)
    }
  }

  /**
   * What the settings alone cannot show, for a warning at start-up: a given `PGHOST` that is not
   * one of the hosts the instance or endpoint lists (one lookup; none for a loopback host), and a
   * `PGUSER` that a group credential overrides.
   *
   * @throws when the lookup fails: the host could not be checked.
   */
  async startupWarnings(signal: AbortSignal): Promise<string[]> {
    const { postgres, credential } = this.#settings
    const group = credential.groupName
    const warnings: string[] = []
    if (group !== undefined && postgres.user !== undefined && postgres.user !== group) {
      warnings.push(
        `PGUSER is ${postgres.user}, but LAKEBASE_GROUP mints the group's credential: the broker logs in as the group's role ${group}`,
      )
    }
    if (isCheckableHost(postgres.host)) {
      const listed = await this.#listedHosts(signal)
      const found = givenHostProblem(postgres.host, this.#targetName(), listed)
      if (found !== undefined) warnings.push(`${found.problem}; ${found.fix}`)
    }
    return warnings
  }

  /** The hosts the instance or endpoint lists, whatever its state. */
  async #listedHosts(signal: AbortSignal): Promise<ListedHosts> {
    const target = this.#settings.target
    const workspace = await this.#auth.token(signal)
    const call = bindWorkspaceCall(this.#auth.host, workspace.accessToken, signal, this.#http)
    return target.kind === 'provisioned'
      ? lookUpInstance(call, target.instanceName)
      : lookUpEndpoint(call, target.endpoint)
  }

  #targetName(): string {
    const target = this.#settings.target
    return target.kind === 'provisioned'
      ? `database instance ${target.instanceName}`
      : `endpoint ${target.endpoint}`
  }

  /** The host to connect to and, when the database has readable secondaries, theirs. */
  async #lookUpHost(call: BoundWorkspaceCall): Promise<InstanceHosts> {
    const target = this.#settings.target
    return target.kind === 'provisioned'
      ? provisionedInstanceHost(call, target.instanceName, { readOnly: target.readOnly })
      : autoscalingEndpointHost(call, target.endpoint)
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
      ...(this.#settings.credential.groupName === undefined
        ? {}
        : { group: this.#settings.credential.groupName }),
    }
  }
}
