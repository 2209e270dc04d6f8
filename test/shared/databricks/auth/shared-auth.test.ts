import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createProvider } from '../../../../broker/providers/create-provider.js'
import { WorkspaceAuthRegistry } from '../../../../shared/databricks/auth/shared-auth.js'
import { servingClientFromSettings } from '../../../../shared/databricks/serving-connect.js'
import { workspaceAuthSettingsFromEnv } from '../../../../shared/databricks/workspace-settings.js'
import { createLogger } from '../../../../shared/process/logger.js'
import { ManualClock } from '../../../../testing/manual-clock.js'
import { onUnhandled } from '../../../../testing/unhandled.js'
import {
  createMockServing,
  createMockWorkspace,
  type MockWorkspace,
} from '../../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const signal = new AbortController().signal
const NO_PROFILE = { DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg' }

let clock: ManualClock
let ws: MockWorkspace

beforeEach(() => {
  clock = new ManualClock()
  ws = createMockWorkspace({ now: () => clock.now() })
  server.use(...ws.handlers, ...createMockServing(ws).handlers)
})

function m2mEnv(target: 'provisioned' | 'autoscaling') {
  return { ...ws.env({ auth: 'oauth-m2m', target }), ...NO_PROFILE }
}

describe('one workspace token per workspace and identity, per process', () => {
  it('is shared by two broker targets and model serving: one OAuth token request in all', async () => {
    const logger = createLogger({ name: 'test', level: 'silent' })
    const provisioned = await createProvider(
      { name: 'orders', provider: 'databricks', env: m2mEnv('provisioned') },
      { clock, logger },
    )
    const autoscaling = await createProvider(
      { name: 'events', provider: 'databricks', env: m2mEnv('autoscaling') },
      { clock, logger },
    )
    const serving = await servingClientFromSettings(
      workspaceAuthSettingsFromEnv(m2mEnv('provisioned')),
      { clock },
    )

    await provisioned.fetch(signal)
    await autoscaling.fetch(signal)
    await serving?.listEndpoints()

    expect(ws.calls.oidcToken).toBe(1)
    expect(ws.calls.databaseCredentials).toBe(1)
    expect(ws.calls.postgresCredentials).toBe(1)
  })

  it('keeps different identities on one workspace apart', async () => {
    const registry = new WorkspaceAuthRegistry()
    const asApp = await registry.resolve(
      workspaceAuthSettingsFromEnv(m2mEnv('provisioned')) ?? expect.fail('no settings'),
      { clock },
    )
    const asDeveloper = await registry.resolve(
      workspaceAuthSettingsFromEnv({ ...ws.env(), ...NO_PROFILE }) ?? expect.fail('no settings'),
      { clock },
    )
    const again = await registry.resolve(
      workspaceAuthSettingsFromEnv(m2mEnv('autoscaling')) ?? expect.fail('no settings'),
      { clock },
    )

    expect(asApp).not.toBe(asDeveloper)
    expect(again).toBe(asApp)
    expect((await asDeveloper.token(signal)).accessToken).toBe(ws.pat)
    expect((await asApp.token(signal)).accessToken).not.toBe(ws.pat)
  })

  it('keeps tokens apart per clock, so that a held token is judged by the clock it was got on', async () => {
    const registry = new WorkspaceAuthRegistry()
    const settings = workspaceAuthSettingsFromEnv(m2mEnv('provisioned')) ?? expect.fail('none')
    const first = await registry.resolve(settings, { clock })
    const other = await registry.resolve(settings, { clock: new ManualClock() })
    expect(other).not.toBe(first)
  })
})
