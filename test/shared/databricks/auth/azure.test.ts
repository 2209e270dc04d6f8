import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { AZURE_DATABRICKS_RESOURCE_ID } from '../../../../shared/databricks/auth/azure.js'
import { azureCliTokenSource } from '../../../../shared/databricks/auth/azure-cli.js'
import { azureClientSecretTokenSource } from '../../../../shared/databricks/auth/azure-client-secret.js'
import { resolveWorkspaceAuth } from '../../../../shared/databricks/auth/resolve.js'
import { UpstreamError } from '../../../../shared/databricks/upstream-error.js'
import { workspaceAuthSettingsFromEnv } from '../../../../shared/databricks/workspace-settings.js'
import { ManualClock } from '../../../../testing/manual-clock.js'
import { onUnhandled } from '../../../../testing/unhandled.js'
import { writeCliStub } from '../../../support/cli-stub.js'
import { rejectionOf } from '../../../support/rejection.js'
import { createMockWorkspace, type MockWorkspace } from '../../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

/** Entra ID stood in for on loopback, as a test in another process would have to. */
// A loopback address the mock answers for (fetch refuses "bad ports" such as 9 before MSW sees them).
const LOGIN_HOST = 'http://127.0.0.1:1024'
const AZ_TOKEN = 'az-cli-access-token-for-alice'
const signal = new AbortController().signal

let dir: string
let clock: ManualClock
let ws: MockWorkspace

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'azure-auth-'))
  clock = new ManualClock()
  ws = createMockWorkspace({
    now: () => clock.now(),
    azureLoginHost: LOGIN_HOST,
    acceptedTokens: [AZ_TOKEN],
  })
  server.use(...ws.handlers)
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function env(extra: Record<string, string> = {}) {
  return {
    DATABRICKS_HOST: ws.host,
    DATABRICKS_CONFIG_FILE: join(dir, 'no-such.databrickscfg'),
    DATABRICKS_CLI_PATH: join(dir, 'no-such-databricks'),
    ...extra,
  }
}

async function scimUser(accessToken: string): Promise<string> {
  const response = await fetch(`${ws.host}/api/2.0/preview/scim/v2/Me`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  })
  return ((await response.json()) as { userName: string }).userName
}

describe('azure-client-secret (an Entra ID service principal)', () => {
  it('is chosen from ARM_CLIENT_ID, ARM_CLIENT_SECRET and ARM_TENANT_ID, and its token signs in to the workspace', async () => {
    const settings = workspaceAuthSettingsFromEnv(env(ws.env({ auth: 'azure-client-secret' })))
    const auth = await resolveWorkspaceAuth(settings ?? expect.fail('no settings'), { clock })
    expect(auth.method).toBe('azure-client-secret')
    const token = await auth.token(signal)
    expect(token.expiresAt).toEqual(new Date(clock.now() + 3_600_000))
    expect(await scimUser(token.accessToken)).toBe(ws.azureClientId)
    expect(ws.calls.azureToken).toBe(1)
  })

  it('posts the client credentials grant for the Azure Databricks resource to {login host}/{tenant}', async () => {
    const source = azureClientSecretTokenSource({
      tenantId: ws.azureTenantId,
      clientId: ws.azureClientId,
      clientSecret: ws.azureClientSecret,
      loginHost: LOGIN_HOST,
    })
    await source(signal)
    const [request] = ws.requests.filter((r) => r.route === 'azureToken')
    expect(request?.url).toBe(`${LOGIN_HOST}/${ws.azureTenantId}/oauth2/v2.0/token`)
    expect(Object.fromEntries(new URLSearchParams(request?.body ?? ''))).toEqual({
      grant_type: 'client_credentials',
      client_id: ws.azureClientId,
      client_secret: ws.azureClientSecret,
      scope: `${AZURE_DATABRICKS_RESOURCE_ID}/.default`,
    })
  })

  it('reports a wrong secret as permanent unauthorized invalid_client, never repeating the secret', async () => {
    const wrong = 'wrong~secret-value-1234'
    const source = azureClientSecretTokenSource({
      tenantId: ws.azureTenantId,
      clientId: ws.azureClientId,
      clientSecret: wrong,
      loginHost: LOGIN_HOST,
    })
    const err = await rejectionOf(source(signal), UpstreamError)
    expect(err).toMatchObject({ errorClass: 'unauthorized', upstreamErrorCode: 'invalid_client' })
    expect(err.kind).toBe('permanent')
    expect(JSON.stringify({ ...err, text: err.message })).not.toContain(wrong)
  })

  it('refuses a partial principal at start-up, naming what is missing', async () => {
    const settings = workspaceAuthSettingsFromEnv(
      env({ ARM_CLIENT_ID: ws.azureClientId, ARM_CLIENT_SECRET: ws.azureClientSecret }),
    )
    await expect(resolveWorkspaceAuth(settings ?? expect.fail('none'))).rejects.toThrow(
      /^ARM_TENANT_ID not set; an Entra ID service principal \(azure-client-secret\) needs/,
    )
  })

  it('comes after DATABRICKS_CLIENT_ID + SECRET in the order', async () => {
    const settings = workspaceAuthSettingsFromEnv(
      env({ ...ws.env({ auth: 'azure-client-secret' }), ...ws.env({ auth: 'oauth-m2m' }) }),
    )
    const auth = await resolveWorkspaceAuth(settings ?? expect.fail('none'), { clock })
    expect(auth.method).toBe('oauth-m2m')
  })

  it('is read from a profile with azure_client_id, azure_client_secret and azure_tenant_id', async () => {
    const path = join(dir, '.databrickscfg')
    await writeFile(
      path,
      `[az]\nhost = ${ws.host}\nazure_client_id = ${ws.azureClientId}\nazure_client_secret = ${ws.azureClientSecret}\nazure_tenant_id = ${ws.azureTenantId}\n`,
    )
    const settings = workspaceAuthSettingsFromEnv({
      DATABRICKS_CONFIG_PROFILE: 'az',
      DATABRICKS_CONFIG_FILE: path,
      AZURE_AUTHORITY_HOST: LOGIN_HOST,
    })
    const auth = await resolveWorkspaceAuth(settings ?? expect.fail('none'), { clock })
    expect(auth.method).toBe('profile:az/azure-client-secret')
    expect(await scimUser((await auth.token(signal)).accessToken)).toBe(ws.azureClientId)
  })

  it('refuses an AZURE_AUTHORITY_HOST that is plain http off loopback', () => {
    expect(() =>
      workspaceAuthSettingsFromEnv(env({ AZURE_AUTHORITY_HOST: 'http://login.example' })),
    ).toThrow(/^AZURE_AUTHORITY_HOST must use https:\/\//)
  })
})

describe('azure-cli (the developer’s az login)', () => {
  const expiresOn = () => Math.floor(clock.now() / 1000) + 1800

  async function azStub(stdout: string, extra: { stderr?: string; exitCode?: number } = {}) {
    return writeCliStub(dir, { name: 'az', stdout, ...extra })
  }

  it('runs az account get-access-token for the Azure Databricks resource, and its token signs in', async () => {
    const stub = await azStub(
      JSON.stringify({ accessToken: AZ_TOKEN, expires_on: expiresOn(), tokenType: 'Bearer' }),
    )
    const settings = workspaceAuthSettingsFromEnv(
      env({
        DATABRICKS_AUTH_TYPE: 'azure-cli',
        AZURE_CLI_PATH: stub.path,
        ARM_TENANT_ID: 'tenant-1',
      }),
    )
    const auth = await resolveWorkspaceAuth(settings ?? expect.fail('none'), { clock })
    expect(auth.method).toBe('azure-cli')
    const token = await auth.token(signal)
    expect(token.expiresAt).toEqual(new Date(expiresOn() * 1000))
    expect(await scimUser(token.accessToken)).toBe(ws.identity)
    expect((await stub.invocations()).map((run) => run.args)).toEqual([
      [
        'account',
        'get-access-token',
        '--resource',
        AZURE_DATABRICKS_RESOURCE_ID,
        '--output',
        'json',
        '--tenant',
        'tenant-1',
      ],
    ])
  })

  it('reads expiresOn (local time) from an older Azure CLI', async () => {
    const local = new Date(clock.now() + 1_800_000)
    const pad = (n: number) => String(n).padStart(2, '0')
    const written = `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())} ${pad(local.getHours())}:${pad(local.getMinutes())}:${pad(local.getSeconds())}.000000`
    const stub = await azStub(JSON.stringify({ accessToken: AZ_TOKEN, expiresOn: written }))
    const token = await azureCliTokenSource({ cliPath: stub.path })(signal)
    expect(token.expiresAt.getTime()).toBe(Math.floor(local.getTime() / 1000) * 1000)
  })

  it('asks for az login when the CLI says so, without repeating its stdout', async () => {
    const stub = await azStub(AZ_TOKEN, {
      stderr:
        "ERROR: AADSTS700082: The refresh token has expired. Please run 'az login' to setup account.",
      exitCode: 1,
    })
    const err = await rejectionOf(
      azureCliTokenSource({ cliPath: stub.path })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('unauthorized')
    expect(err.message).toMatch(/^the Azure CLI exited with code 1; run `az login` again/)
    expect(err.message).not.toContain(AZ_TOKEN)
  })

  it('names AZURE_CLI_PATH when az cannot be run', async () => {
    const err = await rejectionOf(
      azureCliTokenSource({ cliPath: join(dir, 'no-such-az') })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('config')
    expect(err.message).toMatch(/set AZURE_CLI_PATH/)
  })

  it('is chosen by a profile whose auth_type is azure-cli', async () => {
    const stub = await azStub(JSON.stringify({ accessToken: AZ_TOKEN, expires_on: expiresOn() }))
    const path = join(dir, '.databrickscfg')
    await writeFile(path, `[DEFAULT]\nhost = ${ws.host}\nauth_type = azure-cli\n`)
    const settings = workspaceAuthSettingsFromEnv({
      DATABRICKS_HOST: ws.host,
      DATABRICKS_CONFIG_FILE: path,
      AZURE_CLI_PATH: stub.path,
    })
    const auth = await resolveWorkspaceAuth(settings ?? expect.fail('none'), { clock })
    expect(auth.method).toBe('profile:DEFAULT/azure-cli')
    expect((await auth.token(signal)).accessToken).toBe(AZ_TOKEN)
  })
})

describe('a profile auth_type we do not support', () => {
  it('names the ones we do', async () => {
    const path = join(dir, '.databrickscfg')
    await writeFile(path, `[DEFAULT]\nhost = ${ws.host}\nauth_type = azure-msi\n`)
    const settings = workspaceAuthSettingsFromEnv({
      DATABRICKS_HOST: ws.host,
      DATABRICKS_CONFIG_FILE: path,
    })
    await expect(resolveWorkspaceAuth(settings ?? expect.fail('none'))).rejects.toThrow(
      'profile DEFAULT has auth_type azure-msi, which this broker does not support; use one of pat, oauth-m2m, azure-client-secret, azure-cli, databricks-cli',
    )
  })
})
