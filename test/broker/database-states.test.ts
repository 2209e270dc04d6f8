import { afterEach, describe, expect, it } from 'vitest'
import { MIN_DEMAND_FETCH_INTERVAL_MS } from '../../broker/credential-cache.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { loopbackWorkspace } from '../support/loopback-workspace.js'
import { waitFor } from '../support/wait-for.js'
import type {
  EndpointState,
  InstanceState,
  MockWorkspaceOptions,
} from '../testing/workspace/index.js'

/**
 * Issue 22, item 3: the broker keeps refreshing through the states in which a credential can be
 * minted, and answers 503 with a suggestion naming the state that cannot serve. A real broker on
 * the injected clock, against the kit on a loopback socket.
 */

type ErrorBody = {
  detail: { error_code: string; message: string; technical_details: Record<string, unknown> }
}

const HOUR_MS = 3_600_000
const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function setUp(options: MockWorkspaceOptions, target: 'provisioned' | 'autoscaling') {
  const clock = new ManualClock()
  const ws = await loopbackWorkspace({ ...options, now: () => clock.now() })
  const started = await startTestBroker(
    {
      ...ws.env({ target }),
      DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
      XDG_CONFIG_HOME: '/nonexistent',
    },
    { clock, random: () => 0.5 },
  )
  cleanups.push(() => started.broker.close())
  const cache = started.broker.caches.get('default')
  if (!cache) throw new Error('no default target')
  const get = () =>
    fetch(`${started.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
  /** Moves the clock to the held credential's refresh point and waits for that refresh. */
  async function throughRefresh() {
    const mints = ws.credentials.length
    const attempts = cache?.status().history.length ?? 0
    const refreshAt = cache?.status().refreshAt ?? 0
    await clock.advance(refreshAt - clock.now())
    await waitFor(() => (cache?.status().history.length ?? 0) > attempts, {
      what: 'the refresh',
    })
    return ws.credentials.length - mints
  }
  return { clock, ws, cache, get, throughRefresh, logs: started.logs }
}

describe('states in which a credential can still be minted', () => {
  it('refreshes a Provisioned target through STARTING, UPDATING, UPGRADING and FAILING_OVER', async () => {
    const { ws, cache, throughRefresh } = await setUp({}, 'provisioned')
    await waitFor(() => cache.status().valid)
    const instance = ws.instances.get(ws.instanceName)
    if (!instance) throw new Error('no instance')
    for (const state of ['STARTING', 'UPDATING', 'UPGRADING', 'FAILING_OVER'] as InstanceState[]) {
      instance.state = state
      expect(await throughRefresh(), state).toBe(1)
      expect(cache.status(), state).toMatchObject({ consecutiveFailures: 0, stale: false })
    }
    expect(cache.status().lastError).toBeUndefined()
  })

  it('refreshes an Autoscaling target through IDLE, INIT and DEGRADED', async () => {
    const { ws, cache, get, throughRefresh } = await setUp(
      { endpoints: [{ name: ENDPOINT }] },
      'autoscaling',
    )
    await waitFor(() => cache.status().valid)
    const endpoint = ws.endpoints.get(ENDPOINT)
    if (!endpoint) throw new Error('no endpoint')
    for (const state of ['IDLE', 'INIT', 'DEGRADED'] as EndpointState[]) {
      endpoint.current_state = state
      expect(await throughRefresh(), state).toBe(1)
      expect(cache.status(), state).toMatchObject({ consecutiveFailures: 0, stale: false })
    }
    expect((await get()).status).toBe(200)
  })
})

describe('states that cannot serve', () => {
  it('answers 503 CREDENTIAL_UNAVAILABLE with a suggestion naming STOPPED, and serves once the instance is started', async () => {
    const { clock, ws, get } = await setUp(
      { instances: [{ name: 'orders', state: 'STOPPED' }] },
      'provisioned',
    )
    const stopped = await get()
    expect(stopped.status).toBe(503)
    const body = (await stopped.json()) as ErrorBody
    expect(body.detail.error_code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(body.detail.message).toMatch(/orders is STOPPED: it accepts no connections/)
    expect(body.detail.technical_details).toMatchObject({
      error_class: 'not_available',
      suggested_fix: expect.stringMatching(/^start the instance: it is STOPPED/),
    })
    expect(ws.calls.databaseCredentials).toBe(0)

    const instance = ws.instances.get('orders')
    if (instance) instance.state = 'STARTING'
    await clock.advance(MIN_DEMAND_FETCH_INTERVAL_MS)
    expect((await get()).status).toBe(200)
  })

  it('answers 503 with a suggestion saying a disabled endpoint must be enabled', async () => {
    const { get } = await setUp(
      { endpoints: [{ name: ENDPOINT, current_state: 'IDLE', disabled: true }] },
      'autoscaling',
    )
    const response = await get()
    expect(response.status).toBe(503)
    const body = (await response.json()) as ErrorBody
    expect(body.detail.message).toMatch(/is disabled \(state IDLE\)/)
    expect(body.detail.technical_details.suggested_fix).toMatch(/^enable the endpoint/)
  })

  it('answers 503 for a deleted endpoint, with a suggestion saying it was deleted or misspelled', async () => {
    const { ws, get } = await setUp({ endpoints: [{ name: ENDPOINT }] }, 'autoscaling')
    ws.endpoints.delete(ENDPOINT)
    const response = await get()
    expect(response.status).toBe(503)
    const body = (await response.json()) as ErrorBody
    expect(body.detail.technical_details).toMatchObject({
      error_class: 'not_found',
      upstream_status: 404,
      suggested_fix: expect.stringMatching(/does not exist \(deleted or misspelled\)/),
    })
  })

  it('keeps serving the credential it holds when the instance stops, until it expires', async () => {
    const { clock, ws, cache, get, throughRefresh } = await setUp({}, 'provisioned')
    await waitFor(() => cache.status().valid)
    const instance = ws.instances.get(ws.instanceName)
    if (instance) instance.state = 'STOPPED'
    expect(await throughRefresh()).toBe(0)
    const held = await get()
    expect(held.status).toBe(200)
    expect(await held.json()).toMatchObject({ stale: true })
    expect(cache.status().lastError?.fix).toMatch(/STOPPED/)
    await clock.advance(HOUR_MS)
    expect((await get()).status).toBe(503)
  })
})
