import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { resolveBrokerConfig } from '../../../broker/config.js'
import { CredentialCache } from '../../../broker/credential-cache.js'
import { createProvider } from '../../../broker/providers/create-provider.js'
import { DatabricksProvider } from '../../../broker/providers/databricks.js'
import { resolveWorkspaceAuth } from '../../../shared/databricks/auth/resolve.js'
import { DEFAULT_DATABASE_TOKEN_LIFETIME_MS } from '../../../shared/databricks/database-token.js'
import {
  type DatabricksSettings,
  databricksSettingsFromEnv,
} from '../../../shared/databricks/lakebase-settings.js'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import { createLogger } from '../../../shared/process/logger.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { onUnhandled } from '../../../testing/unhandled.js'
import { errorText } from '../../support/error-text.js'
import { rejectionOf } from '../../support/rejection.js'
import {
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceOptions,
} from '../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const HOUR_MS = 3_600_000

let clock: ManualClock
let ws: MockWorkspace

function workspace(options: MockWorkspaceOptions = {}) {
  ws = createMockWorkspace({ now: () => clock.now(), ...options })
  server.use(...ws.handlers)
  return ws
}

beforeEach(() => {
  clock = new ManualClock()
  workspace()
})

function settingsFor(
  env: {
    auth?: 'pat' | 'oauth-m2m' | 'azure-client-secret'
    target?: 'provisioned' | 'autoscaling'
  } = {},
  extra: Record<string, string> = {},
): DatabricksSettings {
  return databricksSettingsFromEnv({
    ...ws.env(env),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    ...extra,
  })
}

async function provider(settings: DatabricksSettings = settingsFor()): Promise<DatabricksProvider> {
  const auth = await resolveWorkspaceAuth(settings.workspace, { clock })
  return new DatabricksProvider({ settings, auth, clock })
}

function fetchOnce(p: DatabricksProvider) {
  return p.fetch(new AbortController().signal)
}

describe('DatabricksProvider with Lakebase Provisioned', () => {
  it('returns a credential for the instance: token, looked-up hosts, token identity, stated expiry', async () => {
    const p = await provider()
    const credential = await fetchOnce(p)
    const instance = ws.instances.get(ws.instanceName)
    expect(credential).toEqual({
      user: ws.identity,
      password: ws.minted[0],
      host: instance?.read_write_dns,
      port: 5432,
      database: 'databricks_postgres',
      ssl: 'require',
      expiresAt: new Date(clock.now() + HOUR_MS),
      issuedAt: new Date(clock.now()),
      source: 'databricks',
      readOnlyHost: instance?.read_only_dns,
    })
    expect(ws.calls).toMatchObject({ getInstance: 1, databaseCredentials: 1, scimMe: 0 })
  })

  it('asks for the instance by name with a fresh UUID v4 request_id each time', async () => {
    const p = await provider()
    await fetchOnce(p)
    await fetchOnce(p)
    const bodies = ws.requests
      .filter((r) => r.route === 'databaseCredentials')
      .map((r) => JSON.parse(r.body ?? '') as { instance_names: string[]; request_id: string })
    expect(bodies.map((b) => b.instance_names)).toEqual([[ws.instanceName], [ws.instanceName]])
    expect(bodies[0]?.request_id).toMatch(UUID_V4)
    expect(bodies[1]?.request_id).toMatch(UUID_V4)
    expect(bodies[0]?.request_id).not.toBe(bodies[1]?.request_id)
  })

  it('never caches: every fetch asks the workspace again', async () => {
    const p = await provider()
    const first = await fetchOnce(p)
    const second = await fetchOnce(p)
    expect(second.password).not.toBe(first.password)
    expect(ws.calls).toMatchObject({ getInstance: 2, databaseCredentials: 2 })
  })

  it('uses PGHOST as given and does not look the instance up', async () => {
    const p = await provider(settingsFor({}, { PGHOST: 'db.internal.example', PGPORT: '6432' }))
    const credential = await fetchOnce(p)
    expect(credential).toMatchObject({ host: 'db.internal.example', port: 6432 })
    expect(ws.calls.getInstance).toBe(0)
  })

  it.each(['STARTING', 'UPDATING', 'UPGRADING', 'FAILING_OVER'] as const)(
    'keeps minting through a %s instance, which comes back by itself, and lets the connection decide',
    async (state) => {
      workspace({ instances: [{ name: 'orders', state }] })
      const credential = await fetchOnce(await provider())
      expect(credential.host).toBe(ws.instances.get('orders')?.read_write_dns)
      expect(ws.calls).toMatchObject({ getInstance: 1, databaseCredentials: 1 })
    },
  )

  it.each([
    ['STOPPED', /start the instance: it is STOPPED/],
    ['DELETING', /the instance is DELETING: name another one in LAKEBASE_INSTANCE_NAME/],
  ] as const)(
    'reports a %s instance as transient not_available with a suggestion naming the state, and mints nothing',
    async (state, suggestion) => {
      workspace({ instances: [{ name: 'orders', state }] })
      const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
      expect(err.errorClass).toBe('not_available')
      expect(err.kind).toBe('transient')
      expect(err.message).toBe(
        `the database instance orders is ${state}: it accepts no connections`,
      )
      expect(err.suggestion).toMatch(suggestion)
      expect(ws.calls.databaseCredentials).toBe(0)
    },
  )

  it('succeeds once a STOPPED instance is started', async () => {
    workspace({ instances: [{ name: 'orders', state: 'STOPPED' }] })
    const p = await provider()
    await rejectionOf(fetchOnce(p), UpstreamError)
    const instance = ws.instances.get('orders')
    if (instance) instance.state = 'STARTING'
    await expect(fetchOnce(p)).resolves.toMatchObject({ host: instance?.read_write_dns })
  })

  it('reports an instance without read_write_dns as malformed', async () => {
    workspace({ instances: [{ name: 'orders', read_write_dns: '' }] })
    const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toMatch(/has no read_write_dns; set PGHOST/)
  })

  it('reports a missing instance as permanent not_found with the upstream code', async () => {
    const p = await provider(settingsFor({}, { LAKEBASE_INSTANCE_NAME: 'no-such-instance' }))
    const err = await rejectionOf(fetchOnce(p), UpstreamError)
    expect(err).toMatchObject({
      errorClass: 'not_found',
      kind: 'permanent',
      upstreamStatus: 404,
      upstreamErrorCode: 'RESOURCE_DOES_NOT_EXIST',
    })
  })
})

describe('DatabricksProvider with Lakebase Autoscaling', () => {
  it('returns a credential for the endpoint, reading expire_time and the endpoint host', async () => {
    const p = await provider(settingsFor({ target: 'autoscaling' }))
    const credential = await fetchOnce(p)
    expect(credential).toMatchObject({
      user: ws.identity,
      password: ws.minted[0],
      host: ws.endpoints.get(ws.endpointName)?.host,
      expiresAt: new Date(clock.now() + HOUR_MS),
    })
    expect(ws.calls).toMatchObject({
      getEndpoint: 1,
      postgresCredentials: 1,
      databaseCredentials: 0,
    })
    const body = ws.requests.find((r) => r.route === 'postgresCredentials')?.body
    expect(JSON.parse(body ?? '')).toEqual({ endpoint: ws.endpointName })
  })

  it('accepts an IDLE endpoint, which wakes up when a client connects', async () => {
    workspace({ endpoints: [{ name: 'projects/p/branches/b/endpoints/e', current_state: 'IDLE' }] })
    await expect(
      fetchOnce(await provider(settingsFor({ target: 'autoscaling' }))),
    ).resolves.toMatchObject({
      source: 'databricks',
    })
  })

  it.each(['INIT', 'DEGRADED'] as const)(
    'keeps minting for a %s endpoint that lists its host, and lets the connection decide',
    async (state) => {
      workspace({
        endpoints: [{ name: 'projects/p/branches/b/endpoints/e', current_state: state }],
      })
      const credential = await fetchOnce(await provider(settingsFor({ target: 'autoscaling' })))
      expect(credential.host).toBe(ws.endpoints.get('projects/p/branches/b/endpoints/e')?.host)
      expect(ws.calls.postgresCredentials).toBe(1)
    },
  )

  it('reports a disabled endpoint as transient not_available with a suggestion saying so, and mints nothing', async () => {
    workspace({
      endpoints: [
        { name: 'projects/p/branches/b/endpoints/e', current_state: 'IDLE', disabled: true },
      ],
    })
    const err = await rejectionOf(
      fetchOnce(await provider(settingsFor({ target: 'autoscaling' }))),
      UpstreamError,
    )
    expect(err).toMatchObject({ errorClass: 'not_available', kind: 'transient' })
    expect(err.message).toBe(
      'the Lakebase endpoint projects/p/branches/b/endpoints/e is disabled (state IDLE): it accepts no connections, and none wakes it',
    )
    expect(err.suggestion).toMatch(/^enable the endpoint: it is disabled/)
    expect(ws.calls.postgresCredentials).toBe(0)
  })

  it('reports an INIT endpoint that lists no host yet as transient not_available, and mints nothing', async () => {
    workspace({
      endpoints: [{ name: 'projects/p/branches/b/endpoints/e', current_state: 'INIT', host: '' }],
    })
    const err = await rejectionOf(
      fetchOnce(await provider(settingsFor({ target: 'autoscaling' }))),
      UpstreamError,
    )
    expect(err).toMatchObject({ errorClass: 'not_available', kind: 'transient' })
    expect(err.suggestion).toMatch(/the endpoint is INIT/)
    expect(ws.calls.postgresCredentials).toBe(0)
  })
})

describe('DatabricksProvider expiry', () => {
  it('prefers the stated expiration_time over the JWT exp', async () => {
    const issued = await ws.mint({ lifetimeS: 3600 })
    const stated = new Date(clock.now() + 1_800_000)
    ws.script('databaseCredentials', {
      body: { token: issued.token, expiration_time: stated.toISOString() },
    })
    expect((await fetchOnce(await provider())).expiresAt).toEqual(stated)
  })

  it("falls back to the token's JWT exp when the response has no expiration_time", async () => {
    ws.script('databaseCredentials', { omitExpiration: true, lifetimeS: 1200 })
    const credential = await fetchOnce(await provider())
    expect(credential.expiresAt).toEqual(new Date(clock.now() + 1_200_000))
  })

  it('falls back to the JWT exp when an Autoscaling response has no expire_time', async () => {
    ws.script('postgresCredentials', { omitExpiration: true, lifetimeS: 900 })
    const credential = await fetchOnce(await provider(settingsFor({ target: 'autoscaling' })))
    expect(credential.expiresAt).toEqual(new Date(clock.now() + 900_000))
  })

  it('assumes one hour when neither the response nor the token says', async () => {
    ws.script('databaseCredentials', { body: { token: 'opaque-not-a-jwt' } })
    const credential = await fetchOnce(await provider())
    expect(credential.expiresAt).toEqual(new Date(clock.now() + DEFAULT_DATABASE_TOKEN_LIFETIME_MS))
  })

  it("keeps the database token's own expiry when the workspace token expires sooner (Postgres checks only the former)", async () => {
    workspace({ workspaceTokenLifetimeS: 600, tokenLifetimeS: 3600 })
    const credential = await fetchOnce(await provider(settingsFor({ auth: 'oauth-m2m' })))
    expect(credential.expiresAt).toEqual(new Date(clock.now() + 3_600_000))
  })

  it('expires with the database token when that expires before the workspace token', async () => {
    workspace({ workspaceTokenLifetimeS: 3600, tokenLifetimeS: 1200 })
    const credential = await fetchOnce(await provider(settingsFor({ auth: 'oauth-m2m' })))
    expect(credential.expiresAt).toEqual(new Date(clock.now() + 1_200_000))
  })

  it('refuses a database token that has already expired', async () => {
    ws.script('databaseCredentials', { expired: true })
    const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toMatch(/returned a database credential that expired at/)
  })
})

describe('DatabricksProvider read replicas', () => {
  it("connects a LAKEBASE_READ_ONLY target to the instance's read_only_dns, with the same kind of token", async () => {
    const p = await provider(settingsFor({}, { LAKEBASE_READ_ONLY: 'true' }))
    const credential = await fetchOnce(p)
    const instance = ws.instances.get(ws.instanceName)
    expect(credential.host).toBe(instance?.read_only_dns)
    expect(credential.host).not.toBe(instance?.read_write_dns)
    expect(credential.password).toBe(ws.minted[0])
    expect(p.describe()).toMatchObject({ instance: ws.instanceName, readOnly: true })
  })

  it('offers the replica beside the primary as a second target from the broker config file', async () => {
    const file = JSON.stringify({
      targets: { 'default-ro': { env: { LAKEBASE_READ_ONLY: 'true' } } },
    })
    const config = resolveBrokerConfig(
      {
        ...ws.env(),
        DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
        BROKER_CONFIG: 'b.json',
      },
      { readFile: () => file },
    )
    const logger = createLogger({ name: 'test', level: 'silent' })
    const hosts = new Map<string, string>()
    for (const target of config.targets) {
      const credential = await fetchOnce(
        (await createProvider(target, { clock, logger })) as DatabricksProvider,
      )
      hosts.set(target.name, credential.host)
    }
    const instance = ws.instances.get(ws.instanceName)
    expect(Object.fromEntries(hosts)).toEqual({
      default: instance?.read_write_dns,
      'default-ro': instance?.read_only_dns,
    })
  })

  it('names no read-only host for an instance without readable secondaries, nor for a given host', async () => {
    workspace({ instances: [{ name: 'orders', read_only_dns: '' }] })
    const credential = await fetchOnce(await provider())
    expect(credential.host).toBe(ws.instances.get('orders')?.read_write_dns)
    expect(credential).not.toHaveProperty('readOnlyHost')
    workspace()
    const given = await fetchOnce(
      await provider(settingsFor({}, { PGHOST: 'db.internal.example' })),
    )
    expect(given).not.toHaveProperty('readOnlyHost')
    expect(ws.calls.getInstance).toBe(0)
  })

  it('reports an instance without readable secondaries as a permanent config error, minting nothing', async () => {
    workspace({ instances: [{ name: 'orders', read_only_dns: '' }] })
    const p = await provider(settingsFor({}, { LAKEBASE_READ_ONLY: 'true' }))
    const err = await rejectionOf(fetchOnce(p), UpstreamError)
    expect(err).toMatchObject({ errorClass: 'config' })
    expect(err.message).toMatch(/orders has no read_only_dns; enable readable secondaries/)
    expect(ws.calls.databaseCredentials).toBe(0)
  })

  it('refuses LAKEBASE_READ_ONLY for an Autoscaling endpoint at start-up', () => {
    expect(() => settingsFor({ target: 'autoscaling' }, { LAKEBASE_READ_ONLY: 'true' })).toThrow(
      /LAKEBASE_READ_ONLY applies to a Lakebase Provisioned instance/,
    )
  })
})

describe('DatabricksProvider group credentials (LAKEBASE_GROUP)', () => {
  it("mints with group_name and logs in as the group's role, not the token's sub", async () => {
    workspace({ groups: { 'data-team': ['alice@example.com'] } })
    const p = await provider(
      settingsFor({ target: 'autoscaling' }, { LAKEBASE_GROUP: 'data-team' }),
    )
    const credential = await fetchOnce(p)
    expect(credential.user).toBe('data-team')
    const body = ws.requests.find((r) => r.route === 'postgresCredentials')?.body
    expect(JSON.parse(body ?? '')).toEqual({ endpoint: ws.endpointName, group_name: 'data-team' })
    expect(ws.calls.scimMe).toBe(0)
    expect(p.describe()).toMatchObject({ group: 'data-team' })
  })

  it('refuses LAKEBASE_GROUP for a Provisioned instance at start-up: its API mints no group credential', () => {
    expect(() => settingsFor({}, { LAKEBASE_GROUP: 'data-team' })).toThrow(
      /LAKEBASE_GROUP applies to Lakebase Autoscaling \(LAKEBASE_ENDPOINT\) only/,
    )
  })
})

describe('DatabricksProvider on Azure', () => {
  it('signs in as an Entra ID service principal at login.microsoftonline.com and logs in as it', async () => {
    const p = await provider(settingsFor({ auth: 'azure-client-secret' }))
    const credential = await fetchOnce(p)
    expect(credential.user).toBe(ws.azureClientId)
    expect(ws.requests.find((r) => r.route === 'azureToken')?.url).toBe(
      `https://login.microsoftonline.com/${ws.azureTenantId}/oauth2/v2.0/token`,
    )
    expect(p.describe()).toMatchObject({ method: 'azure-client-secret' })
  })
})

describe('DatabricksProvider user', () => {
  it('uses PGUSER when set, without asking SCIM', async () => {
    const sp = 'a1b2c3d4-0000-4000-8000-000000000000'
    const credential = await fetchOnce(await provider(settingsFor({}, { PGUSER: sp })))
    expect(credential.user).toBe(sp)
    expect(ws.calls.scimMe).toBe(0)
  })

  it("uses the database token's sub when PGUSER is unset", async () => {
    workspace({ identity: 'bob@example.com' })
    const credential = await fetchOnce(await provider())
    expect(credential.user).toBe('bob@example.com')
    expect(ws.calls.scimMe).toBe(0)
  })

  it("is the service principal's application id under OAuth M2M", async () => {
    const credential = await fetchOnce(await provider(settingsFor({ auth: 'oauth-m2m' })))
    expect(credential.user).toBe(ws.clientId)
  })

  it('asks SCIM Me when the token has no sub', async () => {
    ws.script('databaseCredentials', { noSub: true })
    const credential = await fetchOnce(await provider())
    expect(credential.user).toBe(ws.identity)
    expect(ws.calls.scimMe).toBe(1)
  })

  it('never uses a sub of `token`; asks SCIM Me instead', async () => {
    const odd = await ws.mint({ user: 'token' })
    ws.script('databaseCredentials', {
      body: { token: odd.token, expiration_time: odd.expiresAt.toISOString() },
    })
    const credential = await fetchOnce(await provider())
    expect(credential.user).toBe(ws.identity)
  })

  it('refuses PGUSER=token with a config error explaining the trap', async () => {
    const settings = settingsFor()
    const p = await provider({ ...settings, postgres: { ...settings.postgres, user: 'token' } })
    const err = await rejectionOf(fetchOnce(p), UpstreamError)
    expect(err.errorClass).toBe('config')
    expect(err.kind).toBe('permanent')
    expect(err.message).toMatch(/PGUSER is "token"/)
  })

  it('reports malformed_response when no source names a user', async () => {
    ws.script('databaseCredentials', { noSub: true })
    ws.script('scimMe', { body: { id: '1' } })
    const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toMatch(/cannot tell the Postgres user.*set PGUSER/)
  })
})

describe('DatabricksProvider failures', () => {
  it('reports 429 as rate_limited with Retry-After in milliseconds', async () => {
    ws.script('databaseCredentials', { status: 429, retryAfter: 2 })
    const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
    expect(err).toMatchObject({
      errorClass: 'rate_limited',
      kind: 'transient',
      upstreamStatus: 429,
      upstreamErrorCode: 'REQUEST_LIMIT_EXCEEDED',
      retryAfterMs: 2_000,
    })
  })

  it('reports 403 as permanent, with the upstream error_code', async () => {
    ws.script('databaseCredentials', {
      status: 403,
      error_code: 'PERMISSION_DENIED',
      message: 'User alice@example.com does not have permission to access instance test-instance.',
    })
    const err = await rejectionOf(fetchOnce(await provider()), UpstreamError)
    expect(err).toMatchObject({
      errorClass: 'forbidden',
      kind: 'permanent',
      upstreamStatus: 403,
      upstreamErrorCode: 'PERMISSION_DENIED',
    })
    expect(err.message).toMatch(
      /^the database credential request for instance test-instance failed with HTTP 403 PERMISSION_DENIED/,
    )
  })

  it('reports 5xx and dropped connections as transient', async () => {
    ws.script('databaseCredentials', { status: 500 }, { networkError: true })
    const p = await provider()
    expect((await rejectionOf(fetchOnce(p), UpstreamError)).errorClass).toBe('upstream_5xx')
    expect((await rejectionOf(fetchOnce(p), UpstreamError)).errorClass).toBe('network')
    await expect(fetchOnce(p)).resolves.toMatchObject({ source: 'databricks' })
  })

  it('reports a wrong M2M secret as permanent unauthorized with invalid_client', async () => {
    const p = await provider(
      settingsFor(
        { auth: 'oauth-m2m' },
        { DATABRICKS_CLIENT_SECRET: 'dose0123456789abcdef0123456789abcd' },
      ),
    )
    const err = await rejectionOf(fetchOnce(p), UpstreamError)
    expect(err).toMatchObject({
      errorClass: 'unauthorized',
      kind: 'permanent',
      upstreamStatus: 401,
      upstreamErrorCode: 'invalid_client',
    })
    expect(ws.calls.databaseCredentials).toBe(0)
  })

  it('reports a revoked PAT as permanent unauthorized with UNAUTHENTICATED', async () => {
    const p = await provider(
      settingsFor({}, { DATABRICKS_TOKEN: 'dapi00000000000000000000000000000000' }),
    )
    const err = await rejectionOf(fetchOnce(p), UpstreamError)
    expect(err).toMatchObject({ errorClass: 'unauthorized', upstreamErrorCode: 'UNAUTHENTICATED' })
  })

  it('reports a malformed credential answer as malformed_response', async () => {
    ws.script('databaseCredentials', { malformed: true })
    expect((await rejectionOf(fetchOnce(await provider()), UpstreamError)).errorClass).toBe(
      'malformed_response',
    )
  })

  it('stops when the signal aborts', async () => {
    ws.script('databaseCredentials', { delayMs: 'infinite' })
    const p = await provider()
    const caller = new AbortController()
    const pending = rejectionOf(p.fetch(caller.signal), UpstreamError)
    caller.abort()
    expect((await pending).errorClass).toBe('timeout')
  })

  it('never puts a PAT, client secret or minted token in an error, its cause or its properties', async () => {
    const errors: unknown[] = []
    const collect = async (p: DatabricksProvider) => {
      errors.push(await fetchOnce(p).catch((e: unknown) => e))
    }
    // Mint a few tokens first, so that there are tokens to leak.
    await fetchOnce(await provider())
    await fetchOnce(await provider(settingsFor({ auth: 'oauth-m2m' })))
    const leakyMessage = `bad token ${ws.pat} / ${ws.minted[0]} / ${ws.clientSecret}`

    ws.script('databaseCredentials', { status: 400, message: leakyMessage })
    await collect(await provider())
    ws.script('databaseCredentials', {
      status: 403,
      error_code: 'PERMISSION_DENIED',
      message: leakyMessage,
    })
    await collect(await provider(settingsFor({ auth: 'oauth-m2m' })))
    ws.script('oidcToken', { status: 401, error_code: 'invalid_client', message: leakyMessage })
    await collect(await provider(settingsFor({ auth: 'oauth-m2m' })))
    await collect(
      await provider(
        settingsFor({ auth: 'oauth-m2m' }, { DATABRICKS_CLIENT_SECRET: 'dose-wrong' }),
      ),
    )
    ws.script('databaseCredentials', { body: { token: 12, leaked: ws.minted[0] } })
    await collect(await provider())
    ws.script('databaseCredentials', { networkError: true })
    await collect(await provider())
    ws.script('databaseCredentials', { expired: true })
    await collect(await provider())
    ws.script('scimMe', { status: 500, message: leakyMessage })
    ws.script('databaseCredentials', { noSub: true })
    await collect(await provider())

    expect(errors).toHaveLength(8)
    const secrets = [ws.pat, ws.clientSecret, 'dose-wrong', ...ws.minted]
    for (const err of errors) {
      expect(err).toBeInstanceOf(UpstreamError)
      const text = errorText(err)
      for (const secret of secrets) expect(text).not.toContain(secret)
    }
  })
})

describe('DatabricksProvider.describe', () => {
  it('names the source, auth method, workspace and instance, and no secret', async () => {
    const p = await provider(
      settingsFor(
        {},
        { DATABRICKS_CLIENT_ID: ws.clientId, DATABRICKS_CLIENT_SECRET: ws.clientSecret },
      ),
    )
    const description = p.describe()
    expect(description).toMatchObject({
      source: 'databricks',
      method: 'pat',
      host: ws.host,
      instance: ws.instanceName,
    })
    const text = JSON.stringify(description)
    expect(text).not.toContain(ws.pat)
    expect(text).not.toContain(ws.clientSecret)
  })

  it('names the endpoint for Autoscaling', async () => {
    const p = await provider(settingsFor({ target: 'autoscaling', auth: 'oauth-m2m' }))
    expect(p.describe()).toMatchObject({ method: 'oauth-m2m', endpoint: ws.endpointName })
  })
})

describe('DatabricksProvider claims and ttl', () => {
  const CLAIMS = [{ permission_set: 'READ_ONLY', resources: [{ table_name: 'main.sales.orders' }] }]

  function bodiesOf(route: 'postgresCredentials' | 'databaseCredentials') {
    return ws.requests
      .filter((r) => r.route === route)
      .map((r) => JSON.parse(r.body ?? '') as Record<string, unknown>)
  }

  it('asks Autoscaling for LAKEBASE_CREDENTIAL_TTL_S as a Duration, and the credential expires by the answer', async () => {
    const settings = settingsFor({ target: 'autoscaling' }, { LAKEBASE_CREDENTIAL_TTL_S: '600' })
    const credential = await fetchOnce(await provider(settings))
    expect(bodiesOf('postgresCredentials')).toEqual([{ endpoint: ws.endpointName, ttl: '600s' }])
    expect(ws.credentials[0]?.ttlS).toBe(600)
    expect(credential.expiresAt).toEqual(new Date(clock.now() + 600_000))
  })

  it('sends no ttl and no claims when none are configured', async () => {
    await fetchOnce(await provider(settingsFor({ target: 'autoscaling' })))
    expect(bodiesOf('postgresCredentials')).toEqual([{ endpoint: ws.endpointName }])
  })

  it("sends a target's claims from the broker config file, to Autoscaling and to Provisioned", async () => {
    const file = JSON.stringify({
      targets: {
        events: {
          env: { LAKEBASE_INSTANCE_NAME: '', LAKEBASE_ENDPOINT: ws.endpointName },
          claims: CLAIMS,
        },
        orders: { env: {}, claims: CLAIMS },
      },
    })
    const config = resolveBrokerConfig(
      {
        ...ws.env(),
        DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
        BROKER_CONFIG: 'b.json',
      },
      { readFile: () => file },
    )
    const logger = createLogger({ name: 'test', level: 'silent' })
    for (const target of config.targets.filter((t) => t.name !== 'default')) {
      const p = await createProvider(target, { clock, logger })
      await fetchOnce(p as DatabricksProvider)
    }
    expect(bodiesOf('postgresCredentials')).toEqual([{ endpoint: ws.endpointName, claims: CLAIMS }])
    expect(bodiesOf('databaseCredentials')).toMatchObject([
      { instance_names: [ws.instanceName], claims: CLAIMS },
    ])
    expect(ws.credentials.map((c) => c.claims)).toEqual([CLAIMS, CLAIMS])
  })

  it('refuses claims that are not a list of {permission_set, resources?} at start-up, naming where', () => {
    const file = JSON.stringify({ targets: { orders: { claims: [{ resources: [] }] } } })
    expect(() =>
      resolveBrokerConfig({ ...ws.env(), BROKER_CONFIG: 'b.json' }, { readFile: () => file }),
    ).toThrow(/BROKER_CONFIG b\.json is not valid at: targets\.orders\.claims\.0\.permission_set/)
  })

  it('refreshes on the schedule of the expiry that came back: halfway through a 10-minute credential', async () => {
    const settings = settingsFor({ target: 'autoscaling' }, { LAKEBASE_CREDENTIAL_TTL_S: '600' })
    const cache = new CredentialCache({
      target: 'default',
      provider: await provider(settings),
      policy: { refreshFraction: 0.5, minTtlMs: 15_000, jitterFraction: 0 },
      clock,
      random: () => 0.5,
    })
    const issuedAt = clock.now()
    await cache.get()
    const status = cache.status()
    expect(status.expiresAt).toBe(issuedAt + 600_000)
    expect(status.refreshAt).toBe(issuedAt + 300_000)
    cache.stop()
  })
})
