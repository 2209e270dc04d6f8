import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { type CredentialSlot, requestCredentials } from '../../workers/isolate-credentials.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'

/**
 * A Worker request's credentials live in the isolate's slot, but its broker client lives only as
 * long as the request: a refusal one request saw must be reported by the next one's client.
 */
describe('a Worker isolate reporting a refused credential', () => {
  let broker: RunningBroker
  beforeAll(async () => {
    ;({ broker } = await startTestBroker({
      PGUSER: 'app',
      PGPASSWORD: 'worker-static-password-7d1e',
      PGHOST: '127.0.0.1',
      PGSSLMODE: 'disable',
    }))
    await broker.caches.get('default')?.get()
  })
  afterAll(async () => {
    await broker?.close()
  })

  const forcedRefreshes = async () =>
    (
      await broker.metrics.registry.getSingleMetricAsString(
        'lakebase_broker_forced_refreshes_total',
      )
    )
      .split('\n')
      .filter((line) => line.startsWith('lakebase_broker_forced_refreshes_total{'))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0)

  it('has the next request report it, and hold the credential the broker minted', async () => {
    const slot: CredentialSlot = { held: undefined }
    const options = { url: broker.url, token: TEST_CLIENT_TOKEN }
    const first = await requestCredentials(slot, options).get()
    expect(slot.held?.version).toBe(first.version)

    requestCredentials(slot, options).forget()
    expect(slot.held).toBeUndefined()
    expect(slot.refused).toBe(first.version)
    expect(await forcedRefreshes()).toBe(0)

    const next = await requestCredentials(slot, options).get()
    expect(next.version).not.toBe(first.version)
    expect(slot.refused).toBeUndefined()
    expect(await forcedRefreshes()).toBe(1)
  })
})
