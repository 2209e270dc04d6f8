import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../../broker/broker.js'
import {
  CLIENT_MIN_TTL_MS,
  connectBroker,
  RECHECK_INTERVAL_MS,
} from '../../../shared/client/broker-client.js'
import { LakebaseError } from '../../../shared/client/errors.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../../support/broker.js'
import { freePort } from '../../support/free-port.js'
import { rejectionOf } from '../../support/rejection.js'

const staticEnv = {
  PGUSER: 'app_user',
  PGPASSWORD: 'static-secret-password-1',
  PGHOST: '127.0.0.1',
  PGPORT: '5432',
  PGDATABASE: 'app',
  PGSSLMODE: 'disable',
}

const running: RunningBroker[] = []
afterEach(async () => {
  for (const b of running.splice(0)) await b.close()
})

async function broker(env: Record<string, string> = {}) {
  const started = await startTestBroker({ ...staticEnv, ...env })
  running.push(started.broker)
  await started.broker.caches.get('default')?.get()
  return started
}

describe('brokerCredentials', () => {
  it('reads the credential from a broker over loopback HTTP', async () => {
    const { url } = await broker()
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    const credential = await client.get()
    expect(credential).toMatchObject({
      user: 'app_user',
      password: 'static-secret-password-1',
      database: 'app',
      ssl: 'disable',
      source: 'static',
    })
  })

  it('reads the credential over a unix socket created with mode 0600', async () => {
    const dir = await tempDir()
    const socket = join(dir, 'broker.sock')
    const { url } = await broker({ BROKER_SOCKET: socket })
    expect(url).toBe(`unix:${socket}`)
    const { stat } = await import('node:fs/promises')
    expect((await stat(socket)).mode & 0o777).toBe(0o600)
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    expect((await client.get()).password).toBe('static-secret-password-1')
  })

  it('serves many concurrent callers from one broker request, then from memory', async () => {
    const { url, broker: b } = await broker()
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    const results = await Promise.all(Array.from({ length: 200 }, () => client.get()))
    expect(new Set(results.map((r) => r.password)).size).toBe(1)
    await client.get()
    const metrics = await b.metrics.registry.getSingleMetricAsString(
      'lakebase_broker_requests_total',
    )
    expect(metrics).toContain(
      'lakebase_broker_requests_total{caller="default",target="default",status="200"} 1',
    )
  })

  it('answers from memory until the broker’s refresh point, then asks it once more', async () => {
    const { url, broker: b } = await broker()
    const clock = new ManualClock(Date.now())
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN, clock })
    const first = await client.get()
    const requests = async () =>
      b.metrics.registry.getSingleMetricAsString('lakebase_broker_requests_total')
    clock.jump(Date.parse(first.refreshAt) - clock.now() - 1)
    await client.get()
    expect(await requests()).toContain('status="200"} 1')
    clock.jump(1)
    await Promise.all([client.get(), client.get(), client.get()])
    expect(await requests()).toContain('status="200"} 2')
  })

  it('answers LAKEBASE_NOT_CONFIGURED with a suggestion when no broker is listening', async () => {
    const port = await freePort()
    const client = connectBroker({ url: `http://127.0.0.1:${port}`, token: TEST_CLIENT_TOKEN })
    const err = await rejectionOf(client.get(), LakebaseError)
    expect(err.status).toBe(503)
    expect(err.code).toBe('LAKEBASE_NOT_CONFIGURED')
    expect(String(err.technicalDetails.suggestion)).toContain('npm run broker')
    expect(err.retryAfter).toBe(1)
  })

  it('answers LAKEBASE_NOT_CONFIGURED when the broker refuses the client token', async () => {
    const { url } = await broker()
    const err = await rejectionOf(
      connectBroker({ url, token: 'wrong-token-0000000000' }).get(),
      LakebaseError,
    )
    expect(err.code).toBe('LAKEBASE_NOT_CONFIGURED')
    expect(err.message).toContain('BROKER_UNAUTHORIZED')
    expect(JSON.stringify(err.toBody())).not.toContain('wrong-token-0000000000')
  })

  it('passes the broker CREDENTIAL_UNAVAILABLE through with its retry_after', async () => {
    const { url } = await startTestBroker({
      LAKEBASE_CREDENTIAL_COMMAND: 'exit 3',
      LAKEBASE_PROVIDER: 'command',
    }).then((s) => {
      running.push(s.broker)
      return s
    })
    const err = await rejectionOf(
      connectBroker({ url, token: TEST_CLIENT_TOKEN }).get(),
      LakebaseError,
    )
    expect(err.code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(err.retryAfter).toBeGreaterThanOrEqual(1)
    expect(err.technicalDetails).toMatchObject({
      broker_status: 503,
      error_class: 'command_failed',
    })
  })

  it('keeps its last good credential while the broker is down, until it nears expiry', async () => {
    const { url, broker: b } = await broker()
    const clock = new ManualClock(Date.now())
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN, clock })
    const first = await client.get()
    await b.close()
    running.splice(0)
    clock.jump(Date.parse(first.refreshAt) - clock.now() + RECHECK_INTERVAL_MS)
    expect((await client.get()).password).toBe(first.password)
    clock.jump(Date.parse(first.expiresAt) - clock.now() - CLIENT_MIN_TTL_MS)
    expect(client.current()).toBeUndefined()
    expect((await rejectionOf(client.get(), LakebaseError)).code).toBe('LAKEBASE_NOT_CONFIGURED')
  })

  it('gives a password function that never rejects, even with no broker', async () => {
    const port = await freePort()
    const client = connectBroker({ url: `http://127.0.0.1:${port}`, token: TEST_CLIENT_TOKEN })
    await expect(client.password()).resolves.toBe('')
  })

  it('asks the broker again after forget()', async () => {
    const { url, broker: b } = await broker()
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    await client.get()
    client.forget()
    expect(client.current()).toBeUndefined()
    await client.get()
    const metrics = await b.metrics.registry.getSingleMetricAsString(
      'lakebase_broker_requests_total',
    )
    expect(metrics).toContain('status="200"} 2')
  })

  it('reports a forgotten credential to the broker, which mints a new version', async () => {
    const { url, broker: b } = await broker()
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    const first = await client.get()
    client.forget()
    const answers = await Promise.all(Array.from({ length: 50 }, () => client.get()))
    expect(new Set(answers.map((a) => a.version))).toEqual(new Set([answers[0]?.version]))
    expect(answers[0]?.version).not.toBe(first.version)
    const registry = b.metrics.registry
    expect(
      await registry.getSingleMetricAsString('lakebase_broker_forced_refreshes_total'),
    ).toContain('lakebase_broker_forced_refreshes_total{target="default"} 1')
    // One GET, then one report for the fifty callers, then memory again.
    await client.get()
    expect(await registry.getSingleMetricAsString('lakebase_broker_requests_total')).toContain(
      'lakebase_broker_requests_total{caller="default",target="default",status="200"} 2',
    )
  })

  it('reports a version it was told of, for a client that does not hold it (a Worker request)', async () => {
    const { url, broker: b } = await broker()
    const first = await connectBroker({ url, token: TEST_CLIENT_TOKEN }).get()
    const another = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    another.forget(first.version)
    expect((await another.get()).version).not.toBe(first.version)
    expect(
      await b.metrics.registry.getSingleMetricAsString('lakebase_broker_forced_refreshes_total'),
    ).toContain('} 1')
  })

  it('forget(version) of another credential keeps the one held: only the refused one is dropped', async () => {
    const { url } = await broker()
    const client = connectBroker({ url, token: TEST_CLIENT_TOKEN })
    const held = await client.get()
    client.forget('an-older-version')
    expect(client.current()?.version).toBe(held.version)
    client.forget(held.version)
    expect(client.current()).toBeUndefined()
  })

  it('keeps the report until the broker has heard it, and its password() never rejects', async () => {
    const port = await freePort()
    const brokerUrl = `http://127.0.0.1:${port}`
    const first = await broker({ BROKER_PORT: String(port) })
    const client = connectBroker({ url: brokerUrl, token: TEST_CLIENT_TOKEN })
    const held = await client.get()
    await first.broker.close()
    running.splice(0)
    client.forget()
    await expect(client.password()).resolves.toBe('')
    // A failed request is not remembered: once the broker is back, the next call asks it.
    const again = await broker({ BROKER_PORT: String(port) })
    const healed = await client.get()
    expect(healed.password).toBe(held.password)
    expect(healed.version).not.toBe(held.version)
    const reports = await again.broker.metrics.registry.getSingleMetricAsString(
      'lakebase_broker_refusals_reported_total',
    )
    // The restarted broker never held that version: it answers its own, without minting.
    expect(reports).toContain('outcome="already_replaced"} 1')
  })

  it('times out quickly against a broker that never answers', async () => {
    const { createServer } = await import('node:net')
    const sockets: import('node:net').Socket[] = []
    const silent = createServer((s) => sockets.push(s))
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
    const { port } = silent.address() as import('node:net').AddressInfo
    try {
      const client = connectBroker({
        url: `http://127.0.0.1:${port}`,
        token: TEST_CLIENT_TOKEN,
        timeoutMs: 200,
      })
      const err = await rejectionOf(client.get(), LakebaseError)
      expect(err.code).toBe('CREDENTIAL_UNAVAILABLE')
      expect(err.message).toContain('200 ms')
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })
})
