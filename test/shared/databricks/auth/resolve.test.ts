import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { resolveWorkspaceAuth } from '../../../../shared/databricks/auth/resolve.js'
import type { WorkspaceAuthSettings } from '../../../../shared/databricks/workspace-settings.js'
import { ManualClock } from '../../../../testing/manual-clock.js'
import { onUnhandled } from '../../../../testing/unhandled.js'
import { writeCliStub } from '../../../support/cli-stub.js'
import { createMockWorkspace, type MockWorkspace } from '../../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const CLI_TOKEN = 'cli-access-token-for-alice'
const signal = new AbortController().signal

let dir: string
let clock: ManualClock
let ws: MockWorkspace

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resolve-auth-'))
  clock = new ManualClock()
  ws = createMockWorkspace({ now: () => clock.now(), acceptedTokens: [CLI_TOKEN] })
  server.use(...ws.handlers)
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function settings(overrides: Partial<WorkspaceAuthSettings> = {}): WorkspaceAuthSettings {
  return {
    host: ws.host,
    token: undefined,
    clientId: undefined,
    clientSecret: undefined,
    authType: undefined,
    configProfile: undefined,
    configFile: join(dir, 'no-such.databrickscfg'),
    cliPath: join(dir, 'no-such-cli'),
    ...overrides,
  }
}

async function configFile(text: string): Promise<string> {
  const path = join(dir, '.databrickscfg')
  await writeFile(path, text)
  return path
}

async function cliStub() {
  return writeCliStub(dir, {
    stdout: JSON.stringify({
      access_token: CLI_TOKEN,
      token_type: 'Bearer',
      expiry: new Date(clock.now() + 3_600_000).toISOString(),
    }),
  })
}

describe('resolveWorkspaceAuth', () => {
  it('uses DATABRICKS_TOKEN as a PAT with no known expiry', async () => {
    const auth = await resolveWorkspaceAuth(settings({ token: ws.pat }), { clock })
    expect(auth.method).toBe('pat')
    expect(auth.host).toBe(ws.host)
    expect(await auth.token(signal)).toEqual({ accessToken: ws.pat, expiresAt: null })
  })

  it('uses DATABRICKS_CLIENT_ID + SECRET for OAuth M2M, caching the token', async () => {
    const auth = await resolveWorkspaceAuth(
      settings({ clientId: ws.clientId, clientSecret: ws.clientSecret }),
      { clock },
    )
    expect(auth.method).toBe('oauth-m2m')
    const first = await auth.token(signal)
    const second = await auth.token(signal)
    expect(first.accessToken).toBe(ws.minted[0])
    expect(first.expiresAt).toEqual(new Date(clock.now() + 3_600_000))
    expect(second.accessToken).toBe(first.accessToken)
    expect(ws.calls.oidcToken).toBe(1)
  })

  it('lets a PAT win over the client id and secret that Databricks Apps always set, and says so', async () => {
    const auth = await resolveWorkspaceAuth(
      settings({ token: ws.pat, clientId: ws.clientId, clientSecret: ws.clientSecret }),
      { clock },
    )
    expect(auth.method).toBe('pat')
    expect((await auth.token(signal)).accessToken).toBe(ws.pat)
    expect(ws.calls.oidcToken).toBe(0)
  })

  it('signs in as the app when DATABRICKS_AUTH_TYPE=oauth-m2m despite a PAT', async () => {
    const auth = await resolveWorkspaceAuth(
      settings({
        authType: 'oauth-m2m',
        token: ws.pat,
        clientId: ws.clientId,
        clientSecret: ws.clientSecret,
      }),
      { clock },
    )
    expect(auth.method).toBe('oauth-m2m')
    expect((await auth.token(signal)).accessToken).toBe(ws.minted[0])
  })

  it('uses the Databricks CLI when DATABRICKS_AUTH_TYPE=databricks-cli despite a PAT', async () => {
    const stub = await cliStub()
    const auth = await resolveWorkspaceAuth(
      settings({ authType: 'databricks-cli', token: ws.pat, cliPath: stub.path }),
      { clock },
    )
    expect(auth.method).toBe('databricks-cli')
    expect((await auth.token(signal)).accessToken).toBe(CLI_TOKEN)
    expect((await stub.invocations())[0]?.args).toEqual(['auth', 'token', '--host', ws.host])
  })

  it('prefers environment OAuth M2M over a matching DEFAULT profile', async () => {
    const path = await configFile(`[DEFAULT]\nhost = ${ws.host}\ntoken = ${ws.pat}\n`)
    const auth = await resolveWorkspaceAuth(
      settings({ clientId: ws.clientId, clientSecret: ws.clientSecret, configFile: path }),
      { clock },
    )
    expect(auth.method).toBe('oauth-m2m')
  })

  it('uses the DEFAULT profile when its host is this workspace', async () => {
    const path = await configFile(`[DEFAULT]\nhost = ${ws.host}/\ntoken = ${ws.pat}\n`)
    const auth = await resolveWorkspaceAuth(settings({ configFile: path }), { clock })
    expect(auth.method).toBe('profile:DEFAULT/pat')
    expect((await auth.token(signal)).accessToken).toBe(ws.pat)
  })

  it('ignores a DEFAULT profile for another workspace and falls back to the CLI', async () => {
    const stub = await cliStub()
    const path = await configFile(
      '[DEFAULT]\nhost = https://other.cloud.databricks.com\ntoken = dapi-other\n',
    )
    const auth = await resolveWorkspaceAuth(settings({ configFile: path, cliPath: stub.path }), {
      clock,
    })
    expect(auth.method).toBe('databricks-cli')
    expect((await auth.token(signal)).accessToken).toBe(CLI_TOKEN)
  })

  it('takes the host and M2M credentials from the profile DATABRICKS_CONFIG_PROFILE names', async () => {
    const path = await configFile(
      `[DEFAULT]\nhost = https://other.cloud.databricks.com\n\n[sp]\nhost = ${ws.host}\nclient_id = ${ws.clientId}\nclient_secret = ${ws.clientSecret}\n`,
    )
    const auth = await resolveWorkspaceAuth(
      settings({ host: undefined, configProfile: 'sp', configFile: path }),
      { clock },
    )
    expect(auth.method).toBe('profile:sp/oauth-m2m')
    expect(auth.host).toBe(ws.host)
    expect((await auth.token(signal)).accessToken).toBe(ws.minted[0])
  })

  it('runs the CLI with --profile for a profile written by `databricks auth login`', async () => {
    const stub = await cliStub()
    const path = await configFile(`[dev]\nhost = ${ws.host}\nauth_type = databricks-cli\n`)
    const auth = await resolveWorkspaceAuth(
      settings({ configProfile: 'dev', configFile: path, cliPath: stub.path }),
      { clock },
    )
    expect(auth.method).toBe('profile:dev/databricks-cli')
    expect((await auth.token(signal)).accessToken).toBe(CLI_TOKEN)
    expect(await stub.invocations()).toEqual([
      { args: ['auth', 'token', '--profile', 'dev'], configFile: path },
    ])
  })

  it('honours a profile auth_type over the credentials next to it', async () => {
    const path = await configFile(
      `[dev]\nhost = ${ws.host}\ntoken = ${ws.pat}\nclient_id = ${ws.clientId}\nclient_secret = ${ws.clientSecret}\nauth_type = oauth-m2m\n`,
    )
    const auth = await resolveWorkspaceAuth(settings({ configProfile: 'dev', configFile: path }), {
      clock,
    })
    expect(auth.method).toBe('profile:dev/oauth-m2m')
  })

  it('falls back to the Databricks CLI with --host when nothing else is configured', async () => {
    const stub = await cliStub()
    const auth = await resolveWorkspaceAuth(settings({ cliPath: stub.path }), { clock })
    expect(auth.method).toBe('databricks-cli')
    const token = await auth.token(signal)
    expect(token).toEqual({ accessToken: CLI_TOKEN, expiresAt: new Date(clock.now() + 3_600_000) })
    await auth.token(signal)
    expect(await stub.invocations()).toHaveLength(1)
  })

  it('takes a forced PAT from the profile when the environment has none', async () => {
    const path = await configFile(`[DEFAULT]\nhost = ${ws.host}\ntoken = ${ws.pat}\n`)
    const auth = await resolveWorkspaceAuth(settings({ authType: 'pat', configFile: path }), {
      clock,
    })
    expect(auth.method).toBe('profile:DEFAULT/pat')
  })

  it('refuses a forced PAT when there is none', async () => {
    await expect(resolveWorkspaceAuth(settings({ authType: 'pat' }))).rejects.toThrow(
      'DATABRICKS_AUTH_TYPE is pat, but neither DATABRICKS_TOKEN nor a config profile token is set',
    )
  })

  it('refuses a forced OAuth M2M without client credentials', async () => {
    await expect(
      resolveWorkspaceAuth(settings({ authType: 'oauth-m2m', token: ws.pat })),
    ).rejects.toThrow(
      /DATABRICKS_AUTH_TYPE is oauth-m2m, but neither DATABRICKS_CLIENT_ID \+ DATABRICKS_CLIENT_SECRET/,
    )
  })

  it('refuses a client id without a secret, naming both variables but not the value', async () => {
    const attempt = resolveWorkspaceAuth(settings({ clientId: ws.clientId }))
    await expect(attempt).rejects.toThrow(
      'DATABRICKS_CLIENT_ID is set but DATABRICKS_CLIENT_SECRET is not; OAuth M2M needs both',
    )
  })

  it('refuses a named profile that the config file does not have', async () => {
    const path = await configFile(`[DEFAULT]\nhost = ${ws.host}\n`)
    await expect(
      resolveWorkspaceAuth(settings({ configProfile: 'prod', configFile: path })),
    ).rejects.toThrow(`DATABRICKS_CONFIG_PROFILE is prod, but ${path} has no [prod] section`)
  })

  it('refuses a named profile when the config file does not exist', async () => {
    await expect(resolveWorkspaceAuth(settings({ configProfile: 'prod' }))).rejects.toThrow(
      /DATABRICKS_CONFIG_PROFILE is prod, but the config file .* does not exist/,
    )
  })

  it('refuses a named profile for another workspace, without showing its token', async () => {
    const path = await configFile(
      '[dev]\nhost = https://other.cloud.databricks.com\ntoken = dapi-other-secret\n',
    )
    const attempt = resolveWorkspaceAuth(settings({ configProfile: 'dev', configFile: path }))
    await expect(attempt).rejects.toThrow(
      `profile dev is for https://other.cloud.databricks.com, but DATABRICKS_HOST is ${ws.host}`,
    )
    await expect(attempt).rejects.not.toThrow(/dapi-other-secret/)
  })

  it('refuses a profile auth_type it does not support', async () => {
    const path = await configFile(`[DEFAULT]\nhost = ${ws.host}\nauth_type = github-oidc\n`)
    await expect(resolveWorkspaceAuth(settings({ configFile: path }))).rejects.toThrow(
      'profile DEFAULT has auth_type github-oidc, which this broker does not support; use one of pat, oauth-m2m, azure-client-secret, azure-cli, databricks-cli',
    )
  })

  it('refuses to start without a workspace host', async () => {
    await expect(
      resolveWorkspaceAuth(settings({ host: undefined, token: 'dapi-x' })),
    ).rejects.toThrow(/no Databricks workspace: set DATABRICKS_HOST/)
  })
})
