import { randomUUID } from 'node:crypto'
import { delay, type HttpHandler } from 'msw'
import {
  autoscalingHandlers,
  type MockEndpoint,
  mockEndpoints,
} from './mock-workspace/autoscaling.js'
import { azureEnv, azureHandlers, DEFAULT_AZURE_LOGIN_HOST } from './mock-workspace/azure.js'
import {
  type MintedCredential,
  type MintOptions,
  type RecordedRequest,
  WorkspaceContext,
} from './mock-workspace/context.js'
import { oauthHandlers } from './mock-workspace/oauth.js'
import {
  type MockInstance,
  mockInstances,
  provisionedHandlers,
} from './mock-workspace/provisioned.js'
import { scimHandlers } from './mock-workspace/scim.js'
import type { MockRoute } from './routes.js'
import type { ScriptStep } from './script.js'
import { type MockWorkspaceServer, serveMockWorkspace } from './serve.js'

export {
  type EndpointState,
  type EndpointType,
  endpointResource,
  type MockEndpoint,
} from './mock-workspace/autoscaling.js'
export { connectionReset } from './mock-workspace/connection-reset.js'
export type { MintedCredential, MintOptions, RecordedRequest } from './mock-workspace/context.js'
export type { InstanceState, MockInstance } from './mock-workspace/provisioned.js'

/** How the mock workspace is set up; every field has a default. */
export interface MockWorkspaceOptions {
  /** The workspace URL; `https://workspace.test` by default. Use `http://127.0.0.1:<port>` with `listen()`. */
  host?: string
  /** The workspace's clock (ms); give it the test's scripted clock so expiries line up. */
  now?: () => number
  /** Who the PAT and the accepted tokens belong to: the token `sub` and SCIM `userName`. */
  identity?: string
  /** The PAT the workspace accepts. */
  pat?: string
  /** Further bearer tokens accepted as `identity` (e.g. one a CLI stub prints). */
  acceptedTokens?: string[]
  /** The service principal's OAuth client id; its tokens' identity. */
  clientId?: string
  clientSecret?: string
  /**
   * Entra ID's sign-in origin, `https://login.microsoftonline.com` by default; with `listen()`
   * in another process, the same loopback origin as `host` (set `AZURE_AUTHORITY_HOST` to it).
   */
  azureLoginHost?: string
  /** The Entra ID tenant, and the Azure service principal's id and secret; its tokens' identity. */
  azureTenantId?: string
  azureClientId?: string
  azureClientSecret?: string
  /** Lifetime of minted database tokens, seconds (1 h, as Lakebase's). */
  tokenLifetimeS?: number
  /** `expires_in` of OAuth M2M tokens, seconds. */
  workspaceTokenLifetimeS?: number
  /** Provisioned instances; by default one, `test-instance`, AVAILABLE. */
  instances?: Array<Partial<MockInstance> & { name: string }>
  /**
   * Autoscaling endpoints; by default one, `projects/test-project/branches/production/endpoints/primary`,
   * ACTIVE and read-write with one compute (no `read_only_host`). Give `read_only_host` for
   * readable secondaries, or `endpoint_type: 'ENDPOINT_TYPE_READ_ONLY'` for a read-only endpoint.
   */
  endpoints?: Array<Partial<MockEndpoint> & { name: string }>
  /**
   * Workspace groups by display name, each with its members' identities (emails, client ids): a
   * member may ask `POST /api/2.0/postgres/credentials` for the group's credential (`group_name`).
   * None by default.
   */
  groups?: Record<string, readonly string[]>
  /** `page_size` when a list request gives none. */
  defaultPageSize?: number
  /**
   * Called with every database token before it is returned (awaited), e.g. to make it a real
   * Postgres role's password.
   */
  onCredentialMinted?: (token: string, expiresAt: Date, user: string) => void | Promise<void>
  /**
   * How a step's `delayMs` waits; real time by default. Pass `(ms) => clock.sleep(ms)` with a
   * {@link import('./manual-clock.js').ManualClock} to make latency something the test advances.
   */
  sleep?: (ms: number) => Promise<void>
}

/** A mock Databricks workspace: MSW handlers for every call in reference/databricks.md. */
export interface MockWorkspace {
  readonly host: string
  /** Pass to `setupServer(...)` or `server.use(...)`. */
  readonly handlers: HttpHandler[]
  /** Requests received per route (including refused ones). */
  readonly calls: Record<MockRoute, number>
  readonly requests: RecordedRequest[]
  /** Every token minted (database tokens and OAuth access tokens), to search logs for. */
  readonly minted: string[]
  /** Every database credential minted, with its expiry and user. */
  readonly credentials: MintedCredential[]
  readonly identity: string
  readonly pat: string
  readonly clientId: string
  readonly clientSecret: string
  readonly azureLoginHost: string
  readonly azureTenantId: string
  readonly azureClientId: string
  readonly azureClientSecret: string
  /** Mutable: change a state mid-test, e.g. `instances.get(name).state = 'AVAILABLE'`. */
  readonly instances: Map<string, MockInstance>
  readonly endpoints: Map<string, MockEndpoint>
  /** The first instance's name. */
  readonly instanceName: string
  /** The first endpoint's path. */
  readonly endpointName: string
  /** Queue steps for the next calls of `route`. */
  script(route: MockRoute, ...steps: ScriptStep[]): void
  /** Scripted steps not yet used. */
  pending(route: MockRoute): number
  /**
   * Use `step` for every call of `route` once its queued steps are used up, until `unscript`:
   * an outage of unknown length.
   */
  outage(route: MockRoute, step: ScriptStep): void
  /** Drop the steps not yet used and any outage: the route answers normally again. */
  unscript(route: MockRoute): void
  /** Total requests over all routes. */
  totalCalls(): number
  /** Mint a database token as the credential routes do (recorded, hook called). */
  mint(options?: MintOptions): Promise<MintedCredential>
  /** Accept one more bearer token, as `user` (default `identity`). */
  acceptToken(token: string, user?: string): void
  /** Environment variables that point the broker at this workspace. */
  env(options?: {
    auth?: 'pat' | 'oauth-m2m' | 'azure-client-secret'
    target?: 'provisioned' | 'autoscaling'
  }): Record<string, string>
  /** Serve the handlers on a real loopback socket (host must be `http://127.0.0.1:<port>`). */
  listen(): Promise<MockWorkspaceServer>
}

/** A realistic default; tests that care pass their own. */
const DEFAULT_LIFETIME_S = 3600
const DEFAULT_HOST = 'https://workspace.test'

/**
 * Creates a mock workspace. Each test makes its own, so counts and scripts never leak between
 * tests. It is one module per API (testing/mock-workspace/: Provisioned, Autoscaling, the OIDC
 * server, Entra ID, SCIM) over a shared context that records, scripts, checks callers and mints.
 *
 * @example
 * const server = setupServer()
 * server.listen(onUnhandled('error'))
 * const ws = createMockWorkspace({ now: () => clock.now() })
 * server.use(...ws.handlers)
 * ws.script('databaseCredentials', { status: 429, retryAfter: 2 })
 */
export function createMockWorkspace(options: MockWorkspaceOptions = {}): MockWorkspace {
  const host = withoutTrailingSlash(options.host ?? DEFAULT_HOST)
  const identity = options.identity ?? 'alice@example.com'
  const pat = options.pat ?? `dapi${randomUUID().replaceAll('-', '')}`
  const workspaceTokenLifetimeS = options.workspaceTokenLifetimeS ?? DEFAULT_LIFETIME_S
  const oauth = {
    clientId: options.clientId ?? randomUUID(),
    clientSecret: options.clientSecret ?? `dose${randomUUID().replaceAll('-', '')}`,
    workspaceTokenLifetimeS,
  }
  const azure = {
    loginHost: withoutTrailingSlash(options.azureLoginHost ?? DEFAULT_AZURE_LOGIN_HOST),
    tenantId: options.azureTenantId ?? randomUUID(),
    clientId: options.azureClientId ?? randomUUID(),
    clientSecret: options.azureClientSecret ?? `azure~${randomUUID()}`,
    workspaceTokenLifetimeS,
  }
  const context = new WorkspaceContext({
    host,
    now: options.now ?? Date.now,
    identity,
    acceptedTokens: [pat, ...(options.acceptedTokens ?? [])],
    tokenLifetimeS: options.tokenLifetimeS ?? DEFAULT_LIFETIME_S,
    sleep: options.sleep ?? ((ms: number) => delay(ms)),
    onCredentialMinted: options.onCredentialMinted,
  })
  const instances = mockInstances(options.instances)
  const endpoints = mockEndpoints(options.endpoints)
  const handlers: HttpHandler[] = [
    ...provisionedHandlers(context, { instances, defaultPageSize: options.defaultPageSize }),
    ...autoscalingHandlers(context, {
      endpoints,
      groups: new Map(Object.entries(options.groups ?? {})),
    }),
    ...oauthHandlers(context, oauth),
    ...azureHandlers(context, azure),
    ...scimHandlers(context),
  ]
  const firstInstance = [...instances.keys()][0] ?? ''
  const firstEndpoint = [...endpoints.keys()][0] ?? ''
  const authEnv = {
    pat: () => ({ DATABRICKS_TOKEN: pat }),
    'oauth-m2m': () => ({
      DATABRICKS_CLIENT_ID: oauth.clientId,
      DATABRICKS_CLIENT_SECRET: oauth.clientSecret,
    }),
    'azure-client-secret': () => azureEnv(azure),
  }

  return {
    host,
    handlers,
    calls: context.calls,
    requests: context.requests,
    minted: context.minted,
    credentials: context.credentials,
    identity,
    pat,
    clientId: oauth.clientId,
    clientSecret: oauth.clientSecret,
    azureLoginHost: azure.loginHost,
    azureTenantId: azure.tenantId,
    azureClientId: azure.clientId,
    azureClientSecret: azure.clientSecret,
    instances,
    endpoints,
    instanceName: firstInstance,
    endpointName: firstEndpoint,
    script: (name, ...steps) => context.script(name, steps),
    pending: (name) => context.pending(name),
    outage: (name, step) => context.outage(name, step),
    unscript: (name) => context.unscript(name),
    totalCalls: () => context.totalCalls(),
    mint: (mintOptions) => context.mint(mintOptions),
    acceptToken: (token, user = identity) => context.acceptToken(token, user),
    env: (envOptions = {}) => ({
      DATABRICKS_HOST: host,
      ...authEnv[envOptions.auth ?? 'pat'](),
      ...(envOptions.target === 'autoscaling'
        ? { LAKEBASE_ENDPOINT: firstEndpoint }
        : { LAKEBASE_INSTANCE_NAME: firstInstance }),
    }),
    listen: () => serveMockWorkspace(host, handlers),
  }
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '')
}
