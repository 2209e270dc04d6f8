import { randomUUID } from 'node:crypto'
import { delay, type HttpHandler, HttpResponse, http } from 'msw'
import { MOCK_ROUTES, type MockRoute } from './routes.js'
import { databricksError, oauthError, type ScriptStep, scriptedError } from './script.js'
import { type MockWorkspaceServer, serveMockWorkspace } from './serve.js'
import { TokenMinter } from './tokens.js'

/** Lakebase Provisioned instance states (reference/databricks.md). */
export type InstanceState =
  | 'AVAILABLE'
  | 'STARTING'
  | 'STOPPED'
  | 'UPDATING'
  | 'FAILING_OVER'
  | 'DELETING'
/** Lakebase Autoscaling endpoint states. */
export type EndpointState = 'ACTIVE' | 'IDLE' | 'INIT' | 'DEGRADED'

/** A Provisioned instance as `GET /api/2.0/database/instances/{name}` returns it. */
export interface MockInstance {
  name: string
  uid: string
  state: InstanceState
  pg_version: string
  read_write_dns: string
  read_only_dns: string
  capacity: string
}

/** An Autoscaling endpoint: its resource path, state and host. */
export interface MockEndpoint {
  /** `projects/<p>/branches/<b>/endpoints/<e>` */
  name: string
  current_state: EndpointState
  host: string
}

/** One request the workspace received, for tests that check what was sent. */
export interface RecordedRequest {
  route: MockRoute
  method: string
  url: string
  authorization: string | null
  /** The raw body of a POST. */
  body: string | undefined
}

/** A database token the workspace minted. */
export interface MintedCredential {
  token: string
  expiresAt: Date
  user: string
  /** The `claims` the credential request carried, as sent; undefined when it carried none. */
  claims?: unknown[] | undefined
  /** The `ttl` an Autoscaling credential request asked for, in seconds; undefined when none. */
  ttlS?: number | undefined
}

/** The lifetimes Autoscaling accepts in a credential request's `ttl`, seconds. */
const TTL_RANGE_S = { min: 300, max: 3600 }

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
  /** Autoscaling endpoints; by default one, `projects/test-project/branches/production/endpoints/primary`, ACTIVE. */
  endpoints?: Array<Partial<MockEndpoint> & { name: string }>
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

/** How {@link MockWorkspace.mint} mints; every field optional. */
export interface MintOptions {
  user?: string
  lifetimeS?: number
  noSub?: boolean
  expired?: boolean
  /** Recorded with the credential: what the request asked for. */
  claims?: unknown[]
  ttlS?: number
}

/** Entra ID in Azure's public cloud. */
const DEFAULT_AZURE_LOGIN_HOST = 'https://login.microsoftonline.com'
/** The Azure Databricks resource a workspace token must be asked for. */
const AZURE_DATABRICKS_SCOPE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default'

/** A realistic default; tests that care pass their own. */
const DEFAULT_LIFETIME_S = 3600
const EXPIRED_AGO_S = 60
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

interface Caller {
  user: string
  /** ms; undefined for tokens that do not expire (a PAT). */
  expiresAt: number | undefined
}

interface Context {
  request: Request
  params: Record<string, string | readonly string[] | undefined>
  step: ScriptStep
  caller: Caller | undefined
  body: string | undefined
}

/**
 * Creates a mock workspace. Each test makes its own, so counts and scripts never leak between
 * tests.
 *
 * @example
 * const server = setupServer()
 * server.listen(onUnhandled('error'))
 * const ws = createMockWorkspace({ now: () => clock.now() })
 * server.use(...ws.handlers)
 * ws.script('databaseCredentials', { status: 429, retryAfter: 2 })
 */
export function createMockWorkspace(options: MockWorkspaceOptions = {}): MockWorkspace {
  const host = (options.host ?? 'https://workspace.test').replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const identity = options.identity ?? 'alice@example.com'
  const pat = options.pat ?? `dapi${randomUUID().replaceAll('-', '')}`
  const clientId = options.clientId ?? randomUUID()
  const clientSecret = options.clientSecret ?? `dose${randomUUID().replaceAll('-', '')}`
  const azureLoginHost = (options.azureLoginHost ?? DEFAULT_AZURE_LOGIN_HOST).replace(/\/+$/, '')
  const azureTenantId = options.azureTenantId ?? randomUUID()
  const azureClientId = options.azureClientId ?? randomUUID()
  const azureClientSecret = options.azureClientSecret ?? `azure~${randomUUID()}`
  const tokenLifetimeS = options.tokenLifetimeS ?? DEFAULT_LIFETIME_S
  const workspaceTokenLifetimeS = options.workspaceTokenLifetimeS ?? DEFAULT_LIFETIME_S
  const minter = new TokenMinter(`${host}/oidc`)

  const instances = new Map<string, MockInstance>()
  for (const given of options.instances ?? [{ name: 'test-instance' }]) {
    const uid = given.uid ?? randomUUID()
    instances.set(given.name, {
      uid,
      state: 'AVAILABLE',
      pg_version: '16',
      read_write_dns: `instance-${uid}.database.cloud.databricks.com`,
      read_only_dns: `instance-ro-${uid}.database.cloud.databricks.com`,
      capacity: 'CU_1',
      ...given,
    })
  }
  const endpoints = new Map<string, MockEndpoint>()
  for (const given of options.endpoints ?? [
    { name: 'projects/test-project/branches/production/endpoints/primary' },
  ]) {
    endpoints.set(given.name, {
      current_state: 'ACTIVE',
      host: `ep-${randomUUID().slice(0, 8)}.database.us-west-2.cloud.databricks.com`,
      ...given,
    })
  }

  const bearers = new Map<string, Caller>([[pat, { user: identity, expiresAt: undefined }]])
  for (const token of options.acceptedTokens ?? []) {
    bearers.set(token, { user: identity, expiresAt: undefined })
  }

  const calls = Object.fromEntries(MOCK_ROUTES.map((route) => [route, 0])) as Record<
    MockRoute,
    number
  >
  const requests: RecordedRequest[] = []
  const minted: string[] = []
  const credentials: MintedCredential[] = []
  const queues = new Map<MockRoute, ScriptStep[]>()
  const outages = new Map<MockRoute, ScriptStep>()
  const sleep = options.sleep ?? ((ms: number) => delay(ms))

  async function mint(mintOptions: MintOptions = {}): Promise<MintedCredential> {
    const user = mintOptions.user ?? identity
    const iat = Math.floor(now() / 1000)
    const exp = mintOptions.expired
      ? iat - EXPIRED_AGO_S
      : iat + (mintOptions.lifetimeS ?? tokenLifetimeS)
    const token = await minter.sign({ sub: mintOptions.noSub ? undefined : user, iat, exp })
    const credential: MintedCredential = {
      token,
      expiresAt: new Date(exp * 1000),
      user,
      claims: mintOptions.claims,
      ttlS: mintOptions.ttlS,
    }
    minted.push(token)
    credentials.push(credential)
    await options.onCredentialMinted?.(token, credential.expiresAt, user)
    return credential
  }

  function authenticate(request: Request): Caller | undefined {
    const header = request.headers.get('authorization') ?? ''
    const match = /^Bearer (.+)$/.exec(header)
    const caller = match?.[1] === undefined ? undefined : bearers.get(match[1])
    if (caller?.expiresAt !== undefined && now() >= caller.expiresAt) return undefined
    return caller
  }

  /** Counting, recording, scripting and authentication, common to every route. */
  function route(
    name: MockRoute,
    access: 'bearer' | 'public',
    respond: (context: Context) => Response | Promise<Response>,
  ) {
    return async ({ request, params }: { request: Request; params: Context['params'] }) => {
      calls[name]++
      const body = request.method === 'GET' ? undefined : await request.clone().text()
      requests.push({
        route: name,
        method: request.method,
        url: request.url,
        authorization: request.headers.get('authorization'),
        body,
      })
      const step = queues.get(name)?.shift() ?? outages.get(name) ?? {}
      if (step.until !== undefined) await step.until
      if (step.delayMs === 'infinite') await delay('infinite')
      else if (step.delayMs !== undefined) await sleep(step.delayMs)
      if (step.networkError) return connectionReset()
      if (step.status !== undefined && step.status >= 400) {
        return scriptedError(name, { ...step, status: step.status })
      }
      let caller: Caller | undefined
      if (access === 'bearer') {
        caller = authenticate(request)
        if (caller === undefined) {
          return databricksError(
            401,
            'UNAUTHENTICATED',
            'Credential was not sent or was of an unsupported type for this API.',
          )
        }
      }
      if (step.malformed) {
        return new HttpResponse('<html><body>502 Bad Gateway</body></html>', {
          status: 200,
          headers: { 'Content-Type': 'text/html' },
        })
      }
      if (step.truncatedJson) {
        return new HttpResponse('{"token": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIi', {
          status: 200,
          headers: { 'Content-Type': 'application/json' },
        })
      }
      if (step.body !== undefined) return HttpResponse.json(step.body as object)
      const response = await respond({ request, params, step, caller, body })
      return step.omitFields === undefined ? response : withoutFields(response, step.omitFields)
    }
  }

  const handlers: HttpHandler[] = [
    http.post(
      `${host}/api/2.0/database/credentials`,
      route('databaseCredentials', 'bearer', async ({ body, step, caller }) => {
        const json = parseJson(body)
        const names = json?.instance_names
        if (
          !Array.isArray(names) ||
          names.length === 0 ||
          !names.every((n) => typeof n === 'string')
        ) {
          return databricksError(
            400,
            'INVALID_PARAMETER_VALUE',
            'instance_names must be a non-empty list',
          )
        }
        if (typeof json?.request_id !== 'string' || !UUID_V4.test(json.request_id)) {
          return databricksError(400, 'INVALID_PARAMETER_VALUE', 'request_id must be a UUID v4')
        }
        const unknown = names.find((n: string) => !instances.has(n))
        if (unknown !== undefined) {
          return databricksError(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Database instance '${unknown}' does not exist.`,
          )
        }
        const claims = readClaims(json?.claims)
        if (claims === 'invalid') {
          return databricksError(400, 'INVALID_PARAMETER_VALUE', CLAIMS_SHAPE)
        }
        const credential = await mint({ user: caller?.user, claims, ...stepMint(step) })
        return HttpResponse.json({
          token: credential.token,
          ...(step.omitExpiration ? {} : { expiration_time: credential.expiresAt.toISOString() }),
        })
      }),
    ),
    http.get(
      `${host}/api/2.0/database/instances`,
      route('listInstances', 'bearer', ({ request }) => {
        const url = new URL(request.url)
        const pageSize = Number(url.searchParams.get('page_size') ?? options.defaultPageSize ?? 50)
        const offset = Number(url.searchParams.get('page_token') ?? '0')
        if (
          !Number.isInteger(pageSize) ||
          pageSize < 1 ||
          !Number.isInteger(offset) ||
          offset < 0
        ) {
          return databricksError(400, 'INVALID_PARAMETER_VALUE', 'bad page_size or page_token')
        }
        const all = [...instances.values()]
        const page = all.slice(offset, offset + pageSize)
        const next = offset + pageSize < all.length ? String(offset + pageSize) : undefined
        return HttpResponse.json({
          database_instances: page,
          ...(next === undefined ? {} : { next_page_token: next }),
        })
      }),
    ),
    http.get(
      `${host}/api/2.0/database/instances/:name`,
      route('getInstance', 'bearer', ({ params }) => {
        const name = String(params.name)
        const instance = instances.get(name)
        if (instance === undefined) {
          return databricksError(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Database instance '${name}' does not exist.`,
          )
        }
        return HttpResponse.json(instance)
      }),
    ),
    http.post(
      `${host}/api/2.0/postgres/credentials`,
      route('postgresCredentials', 'bearer', async ({ body, step, caller }) => {
        const json = parseJson(body)
        const endpoint = json?.endpoint
        if (typeof endpoint !== 'string') {
          return databricksError(400, 'INVALID_PARAMETER_VALUE', 'endpoint is required')
        }
        if (!endpoints.has(endpoint)) {
          return databricksError(404, 'NOT_FOUND', `Endpoint '${endpoint}' not found.`)
        }
        const claims = readClaims(json?.claims)
        if (claims === 'invalid') {
          return databricksError(400, 'INVALID_PARAMETER_VALUE', CLAIMS_SHAPE)
        }
        const ttlS = readTtl(json?.ttl)
        if (ttlS === 'invalid') {
          return databricksError(
            400,
            'INVALID_PARAMETER_VALUE',
            `ttl must be a duration of ${TTL_RANGE_S.min}s to ${TTL_RANGE_S.max}s`,
          )
        }
        const credential = await mint({
          user: caller?.user,
          claims,
          ttlS,
          // A requested lifetime is what the workspace mints, unless the step scripts another.
          lifetimeS: step.lifetimeS ?? ttlS,
          noSub: step.noSub,
          expired: step.expired,
        })
        return HttpResponse.json({
          token: credential.token,
          ...(step.omitExpiration ? {} : { expire_time: credential.expiresAt.toISOString() }),
        })
      }),
    ),
    http.get(
      `${host}/api/2.0/postgres/projects/:project/branches/:branch/endpoints/:endpoint`,
      route('getEndpoint', 'bearer', ({ params }) => {
        const name = `projects/${params.project}/branches/${params.branch}/endpoints/${params.endpoint}`
        const endpoint = endpoints.get(name)
        if (endpoint === undefined)
          return databricksError(404, 'NOT_FOUND', `Endpoint '${name}' not found.`)
        return HttpResponse.json({
          name,
          status: { current_state: endpoint.current_state, hosts: { host: endpoint.host } },
        })
      }),
    ),
    http.get(
      `${host}/oidc/.well-known/oauth-authorization-server`,
      route('oidcDiscovery', 'public', () =>
        HttpResponse.json({
          issuer: `${host}/oidc`,
          authorization_endpoint: `${host}/oidc/v1/authorize`,
          token_endpoint: `${host}/oidc/v1/token`,
          grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token'],
        }),
      ),
    ),
    http.post(
      `${host}/oidc/v1/token`,
      route('oidcToken', 'public', async ({ request, body, step }) => {
        if (!request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) {
          return oauthError(400, 'invalid_request', 'expected a form-encoded body')
        }
        const presented = basicCredentials(request.headers.get('authorization'))
        if (presented?.id !== clientId || presented.secret !== clientSecret) {
          return oauthError(401, 'invalid_client', 'Client authentication failed')
        }
        const form = new URLSearchParams(body ?? '')
        if (form.get('grant_type') !== 'client_credentials') {
          return oauthError(400, 'unsupported_grant_type', 'only client_credentials is supported')
        }
        if (form.get('scope') !== 'all-apis')
          return oauthError(400, 'invalid_scope', 'scope must be all-apis')
        const lifetimeS = step.lifetimeS ?? workspaceTokenLifetimeS
        const iat = Math.floor(now() / 1000)
        const accessToken = await minter.sign({ sub: clientId, iat, exp: iat + lifetimeS })
        minted.push(accessToken)
        bearers.set(accessToken, { user: clientId, expiresAt: (iat + lifetimeS) * 1000 })
        return HttpResponse.json({
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: lifetimeS,
          scope: 'all-apis',
        })
      }),
    ),
    http.post(
      `${azureLoginHost}/:tenant/oauth2/v2.0/token`,
      route('azureToken', 'public', async ({ request, params, body, step }) => {
        if (!request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) {
          return oauthError(400, 'invalid_request', 'AADSTS900144: expected a form-encoded body')
        }
        if (params.tenant !== azureTenantId) {
          return oauthError(
            400,
            'invalid_tenant',
            `AADSTS90002: Tenant '${params.tenant}' not found.`,
          )
        }
        const form = new URLSearchParams(body ?? '')
        if (form.get('grant_type') !== 'client_credentials') {
          return oauthError(400, 'unsupported_grant_type', 'AADSTS70003: unsupported grant type')
        }
        if (
          form.get('client_id') !== azureClientId ||
          form.get('client_secret') !== azureClientSecret
        ) {
          return oauthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.')
        }
        if (form.get('scope') !== AZURE_DATABRICKS_SCOPE) {
          return oauthError(
            400,
            'invalid_scope',
            'AADSTS70011: the scope must be the Azure Databricks resource',
          )
        }
        const lifetimeS = step.lifetimeS ?? workspaceTokenLifetimeS
        const iat = Math.floor(now() / 1000)
        const accessToken = await minter.sign({ sub: azureClientId, iat, exp: iat + lifetimeS })
        minted.push(accessToken)
        bearers.set(accessToken, { user: azureClientId, expiresAt: (iat + lifetimeS) * 1000 })
        return HttpResponse.json({
          token_type: 'Bearer',
          expires_in: lifetimeS,
          ext_expires_in: lifetimeS,
          access_token: accessToken,
        })
      }),
    ),
    http.get(
      `${host}/api/2.0/preview/scim/v2/Me`,
      route('scimMe', 'bearer', ({ caller }) =>
        HttpResponse.json({
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          id: '1234567890',
          userName: caller?.user,
          displayName: caller?.user,
          active: true,
          ...(caller?.user.includes('@')
            ? { emails: [{ value: caller.user, primary: true, type: 'work' }] }
            : {}),
        }),
      ),
    ),
  ]

  function authEnv(auth: 'pat' | 'oauth-m2m' | 'azure-client-secret'): Record<string, string> {
    switch (auth) {
      case 'pat':
        return { DATABRICKS_TOKEN: pat }
      case 'oauth-m2m':
        return { DATABRICKS_CLIENT_ID: clientId, DATABRICKS_CLIENT_SECRET: clientSecret }
      case 'azure-client-secret':
        return {
          ARM_CLIENT_ID: azureClientId,
          ARM_CLIENT_SECRET: azureClientSecret,
          ARM_TENANT_ID: azureTenantId,
          ...(azureLoginHost === DEFAULT_AZURE_LOGIN_HOST
            ? {}
            : { AZURE_AUTHORITY_HOST: azureLoginHost }),
        }
    }
  }

  const firstInstance = [...instances.keys()][0] ?? ''
  const firstEndpoint = [...endpoints.keys()][0] ?? ''

  return {
    host,
    handlers,
    calls,
    requests,
    minted,
    credentials,
    identity,
    pat,
    clientId,
    clientSecret,
    azureLoginHost,
    azureTenantId,
    azureClientId,
    azureClientSecret,
    instances,
    endpoints,
    instanceName: firstInstance,
    endpointName: firstEndpoint,
    script(name, ...steps) {
      const queue = queues.get(name) ?? []
      queue.push(...steps)
      queues.set(name, queue)
    },
    pending: (name) => queues.get(name)?.length ?? 0,
    outage(name, step) {
      outages.set(name, step)
    },
    unscript(name) {
      queues.delete(name)
      outages.delete(name)
    },
    totalCalls: () => Object.values(calls).reduce((sum, n) => sum + n, 0),
    mint,
    acceptToken(token, user = identity) {
      bearers.set(token, { user, expiresAt: undefined })
    },
    env(envOptions = {}) {
      return {
        DATABRICKS_HOST: host,
        ...authEnv(envOptions.auth ?? 'pat'),
        ...(envOptions.target === 'autoscaling'
          ? { LAKEBASE_ENDPOINT: firstEndpoint }
          : { LAKEBASE_INSTANCE_NAME: firstInstance }),
      }
    },
    listen: () => serveMockWorkspace(host, handlers),
  }
}

const CLAIMS_SHAPE = 'claims must be a list of {permission_set, resources?}'

/** A request's `claims`: undefined when absent, 'invalid' when not a list of claims. */
function readClaims(value: unknown): unknown[] | undefined | 'invalid' {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) return 'invalid'
  const valid = value.every(
    (claim) =>
      typeof claim === 'object' &&
      claim !== null &&
      typeof (claim as { permission_set?: unknown }).permission_set === 'string',
  )
  return valid ? value : 'invalid'
}

/** A request's `ttl` (a Duration, `"900s"`) in seconds: undefined when absent, else checked. */
function readTtl(value: unknown): number | undefined | 'invalid' {
  if (value === undefined) return undefined
  const match = typeof value === 'string' ? /^(\d+)s$/.exec(value) : null
  const seconds = match?.[1] === undefined ? Number.NaN : Number(match[1])
  if (!(seconds >= TTL_RANGE_S.min && seconds <= TTL_RANGE_S.max)) return 'invalid'
  return seconds
}

function stepMint(step: ScriptStep) {
  return { lifetimeS: step.lifetimeS, noSub: step.noSub, expired: step.expired }
}

/**
 * A dropped connection, as MSW makes one: fetch rejects with `TypeError: Failed to fetch`, and
 * the loopback server destroys the socket. MSW recognises `HttpResponse.error()` by checking it
 * against the global `Response` class, which `@hono/node-server` replaces with its own in any
 * process that serves HTTP (a broker in the test's process); the same network error is then
 * presented under that class, or MSW would pass it on as a response with status 0.
 */
export function connectionReset(): Response {
  const error = HttpResponse.error()
  if (error instanceof globalThis.Response) return error
  const fields = {
    type: 'error',
    status: 0,
    statusText: '',
    ok: false,
    redirected: false,
    url: '',
    headers: new Headers(),
    body: null,
    bodyUsed: false,
  }
  const properties = Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, { value, enumerable: true }]),
  )
  const reset = Object.create(globalThis.Response.prototype, properties) as Response
  Object.defineProperty(reset, 'clone', { value: () => reset })
  return reset
}

/** The same answer without the named top-level fields (a 2xx JSON object only). */
async function withoutFields(response: Response, fields: readonly string[]): Promise<Response> {
  if (!response.ok) return response
  const json = (await response.json()) as Record<string, unknown>
  for (const field of fields) delete json[field]
  // The body is shorter now: a copied Content-Length would leave the client waiting for the rest
  // (msw 3 sends the header as given).
  const headers = new Headers(response.headers)
  headers.delete('content-length')
  return HttpResponse.json(json, { status: response.status, headers })
}

function parseJson(body: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body ?? '')
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function basicCredentials(header: string | null): { id: string; secret: string } | undefined {
  const match = /^Basic (.+)$/.exec(header ?? '')
  if (match?.[1] === undefined) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const formDecode = (s: string) => decodeURIComponent(s.replaceAll('+', ' '))
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    return undefined
  }
}
