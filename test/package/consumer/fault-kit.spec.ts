import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createMockWorkspace,
  FAULT_KINDS,
  FAULTS,
  type FaultKind,
  faultStep,
  injectFault,
  ManualClock,
  type MockWorkspace,
  onUnhandled,
} from 'lakebase-broker/testing'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

/**
 * Run inside the consumer project of test/package/consumer.test.ts, against the installed
 * tarball (never an alias to this repository's source).
 *
 * What a user of the package writes: their own vitest file, importing the fault kit from
 * `lakebase-broker/testing`, testing their own code against a mock workspace. "Their code" here
 * is a small token fetcher that retries one transient failure.
 */
async function fetchDatabaseToken(host: string, pat: string, instance: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    let response: Response
    try {
      response = await fetch(`${host}/api/2.0/database/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
        body: JSON.stringify({ instance_names: [instance], request_id: crypto.randomUUID() }),
      })
    } catch (err) {
      if (attempt < 2) continue
      throw err
    }
    if (response.status >= 500 && attempt < 2) continue
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const body = (await response.json()) as { token?: unknown }
    if (typeof body.token !== 'string') throw new Error('no token in the answer')
    return body.token
  }
}

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function workspace(clock = new ManualClock()): MockWorkspace {
  const ws = createMockWorkspace({ now: () => clock.worldNow(), sleep: (ms) => clock.sleep(ms) })
  server.use(...ws.handlers)
  return ws
}

describe('the fault kit, imported as lakebase-broker/testing', () => {
  it("fails a request no handler takes, as onUnhandled('error') says, on this msw's major", async () => {
    // A real server that would answer: msw 2 reads onUnhandledRequest, msw 3 onUnhandledFrame,
    // and under the wrong key the request would pass through and get its 200.
    const server = createServer((_req, res) => res.end('reached'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(TypeError)
    } finally {
      server.close()
    }
  })

  it('names twelve fault kinds, each with how a client must take it', () => {
    expect(FAULT_KINDS).toHaveLength(12)
    for (const kind of FAULT_KINDS) {
      expect(FAULTS[kind]).toMatchObject({
        kind,
        class: expect.stringMatching(/^(transient|permanent|absorbed)$/),
      })
    }
  })

  it('lets my code retry one 503 and count the calls', async () => {
    const ws = workspace()
    injectFault({ workspace: ws }, 'server-error')
    const token = await fetchDatabaseToken(ws.host, ws.pat, ws.instanceName)
    expect(ws.minted).toEqual([token])
    expect(ws.calls.databaseCredentials).toBe(2)
  })

  it('shows my code giving up on a permanent 403 at once', async () => {
    const ws = workspace()
    injectFault({ workspace: ws }, 'forbidden', { calls: 'outage' })
    await expect(fetchDatabaseToken(ws.host, ws.pat, ws.instanceName)).rejects.toThrow('HTTP 403')
    expect(ws.calls.databaseCredentials).toBe(1)
  })

  it.each(
    FAULT_KINDS.filter((k) => k !== 'clock-jump' && FAULTS[k].class === 'transient').map((k) => [
      k,
    ]),
  )('scripts %s for one call, after which the route answers normally', async (kind) => {
    const clock = new ManualClock()
    const ws = workspace(clock)
    injectFault({ workspace: ws }, kind as FaultKind, { latencyMs: 5_000 })
    const first = fetchDatabaseToken(ws.host, ws.pat, ws.instanceName).then(
      (token) => ({ token }),
      (error: Error) => ({ error }),
    )
    if (kind === 'latency') {
      // The answer waits on the test's clock: move it once the call is being held.
      while (clock.pendingTimers() === 0) await new Promise((resolve) => setTimeout(resolve, 1))
      await clock.advance(5_000)
    }
    const outcome = await first
    expect(ws.calls.databaseCredentials).toBeGreaterThanOrEqual(1)
    expect(ws.pending('databaseCredentials')).toBe(0)
    const again = await fetchDatabaseToken(ws.host, ws.pat, ws.instanceName)
    expect(ws.minted).toContain(again)
    if ('token' in outcome && kind === 'expired-token') {
      const exp = JSON.parse(Buffer.from(outcome.token.split('.')[1] ?? '', 'base64url').toString())
        .exp as number
      expect(exp * 1000).toBeLessThan(clock.worldNow())
    }
  })

  it('describes a fault as the script step it takes', () => {
    expect(faultStep('rate-limited', { retryAfterS: 7 })).toEqual({ status: 429, retryAfter: 7 })
    expect(faultStep('missing-fields', { route: 'getInstance' })).toEqual({
      omitFields: ['read_write_dns'],
    })
    expect(() => faultStep('token-without-sub', { route: 'scimMe' })).toThrow(/credential route/)
  })

  it('jumps the clock my code reads, forward and back, keeping the world’s time', () => {
    const clock = new ManualClock()
    const start = clock.now()
    injectFault({ workspace: workspace(clock), clock }, 'clock-jump', { jumpMs: 60_000 })
    expect(clock.now()).toBe(start + 60_000)
    injectFault({ workspace: workspace(clock), clock }, 'clock-jump', { jumpMs: -120_000 })
    expect(clock.now()).toBe(start - 60_000)
    expect(clock.worldNow()).toBe(start + 60_000)
  })
})
