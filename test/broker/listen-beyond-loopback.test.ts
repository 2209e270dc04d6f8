import { afterEach, describe, expect, it } from 'vitest'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { createTestDatabase, type TestDatabase } from '../support/postgres.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

describe('a broker started with BROKER_HOST=0.0.0.0', () => {
  it('answers its status routes only with a client token; a loopback broker without one', async () => {
    const db: TestDatabase = await createTestDatabase('wide')
    cleanup.push(() => db.drop())
    for (const [host, open] of [
      ['0.0.0.0', false],
      ['127.0.0.1', true],
    ] as const) {
      const { broker } = await startTestBroker({ ...staticBrokerEnv(db), BROKER_HOST: host })
      cleanup.push(() => broker.close())
      // Asked on loopback either way: the test sends nothing off this machine.
      const port = new URL(broker.url).port
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${port}${path}`, { headers })
      for (const path of ['/', '/status.json', '/metrics']) {
        expect((await get(path)).status, `${host} ${path}`).toBe(open ? 200 : 401)
        const withToken = await get(path, { authorization: `Bearer ${TEST_CLIENT_TOKEN}` })
        expect(withToken.status, `${host} ${path}`).toBe(200)
      }
      expect((await get('/healthz')).status).toBe(200)
    }
  })
})
