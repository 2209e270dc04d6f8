import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  REFUSED_TOKEN_MEMORY_MS,
  USER_MINT_BURST,
  USER_MINT_REFUSAL_COST,
} from '../../broker/per-user/mint-limiter.js'
import { USER_TOKEN_HEADER } from '../../broker/per-user/user-token.js'
import { ManualClock } from '../../testing/manual-clock.js'
import type { MockWorkspaceServer } from '../../testing/serve.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { freePort } from '../support/kit.js'
import { waitFor } from '../support/wait-for.js'
import { createMockWorkspace, type MockWorkspace } from '../testing/workspace/index.js'

/**
 * Issue 23, item 4: a local client holding a broker token cannot make the broker call the
 * workspace once per request by sending made-up user tokens. Real HTTP between a broker and a
 * mock workspace on loopback; the broker's clock is the test's.
 */
const APP_USER = 'app-principal@example.com'
const MALLORY_TOKEN = 'mallory-client-token-0c7e5b2d9a41f3e6'
const REAL_TOKEN = 'dapi-real-user-token-4d1f'
const REQUESTS = 1_000
const BATCH = 50

type ErrorBody = { detail: { error_code: string; retry_after: number | null } }

describe('per-user minting, bounded per client', () => {
  const clock = new ManualClock(Date.now())
  let workspace: MockWorkspace
  let server: MockWorkspaceServer
  let started: Awaited<ReturnType<typeof startTestBroker>>

  beforeAll(async () => {
    workspace = createMockWorkspace({
      host: `http://127.0.0.1:${await freePort()}`,
      identity: APP_USER,
    })
    workspace.acceptToken(REAL_TOKEN, 'real@example.com')
    server = await workspace.listen()
    started = await startTestBroker(
      { ...workspace.env(), PGHOST: '127.0.0.1' },
      {
        clock,
        configure: (config) =>
          config.clients.push({ name: 'mallory', token: MALLORY_TOKEN, targets: '*' }),
      },
    )
    await started.broker.caches.get('default')?.get()
  })
  afterAll(async () => {
    await started?.broker.close()
    await server?.close()
  })

  const get = (clientToken: string, userToken?: string) =>
    fetch(`${started.url}/v1/credentials/default`, {
      headers: {
        authorization: `Bearer ${clientToken}`,
        ...(userToken === undefined ? {} : { [USER_TOKEN_HEADER]: userToken }),
      },
    })
  const mints = () => workspace.calls.databaseCredentials

  it('1,000 made-up user tokens cost at most 100 workspace calls; the rest are 429 with retry_after', async () => {
    const before = mints()
    const statuses = new Map<number, number>()
    const codes = new Set<string>()
    let retryAfterMissing = 0
    for (let sent = 0; sent < REQUESTS; sent += BATCH) {
      const responses = await Promise.all(
        Array.from({ length: BATCH }, () => get(MALLORY_TOKEN, `dapi-made-up-${randomUUID()}`)),
      )
      for (const response of responses) {
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const body = (await response.json()) as ErrorBody
        codes.add(`${response.status} ${body.detail.error_code}`)
        if (response.status === 429) {
          const retryAfter = Number(response.headers.get('retry-after'))
          if (!(retryAfter >= 1) || body.detail.retry_after !== retryAfter) retryAfterMissing++
        }
      }
      // Time passes between batches as a flood's would: the bucket refills at its rate.
      await clock.advance(100)
    }
    const calls = mints() - before
    if (process.env.SHOW_FIGURES) console.log('per-user flood', { calls, statuses })
    expect(calls).toBeLessThanOrEqual(100)
    // The burst, then what 10 a second buys over the run's 2 s, at the cost of refused tokens.
    expect(calls).toBeGreaterThanOrEqual(USER_MINT_BURST / (1 + USER_MINT_REFUSAL_COST))
    expect(codes).toEqual(new Set(['401 USER_TOKEN_REJECTED', '429 USER_MINT_RATE_LIMITED']))
    expect(statuses.get(401)).toBe(calls)
    expect(statuses.get(429)).toBe(REQUESTS - calls)
    expect(retryAfterMissing).toBe(0)
  })

  it("keeps a refused token's refusal without asking the workspace again, for a while", async () => {
    await clock.advance(60_000)
    const token = `dapi-made-up-${randomUUID()}`
    expect((await get(MALLORY_TOKEN, token)).status).toBe(401)
    const before = mints()
    expect((await get(MALLORY_TOKEN, token)).status).toBe(401)
    expect(mints()).toBe(before)
    await clock.advance(REFUSED_TOKEN_MEMORY_MS)
    expect((await get(MALLORY_TOKEN, token)).status).toBe(401)
    expect(mints()).toBe(before + 1)
  })

  it("leaves other clients' users, and the app's own target, alone", async () => {
    // Mallory has used up its bucket again.
    await Promise.all(
      Array.from({ length: BATCH }, () => get(MALLORY_TOKEN, `dapi-made-up-${randomUUID()}`)),
    )
    expect((await get(MALLORY_TOKEN, `dapi-made-up-${randomUUID()}`)).status).toBe(429)
    // The app's client: its real user is minted for at once.
    const real = await get(TEST_CLIENT_TOKEN, REAL_TOKEN)
    expect(real.status).toBe(200)
    expect(((await real.json()) as { user: string }).user).toBe('real@example.com')
    // The app's own credential refreshes on time.
    const cache = started.broker.caches.get('default')
    const refreshAt = cache?.status().refreshAt ?? Number.NaN
    const records = cache?.status().history.length ?? 0
    await clock.advance(refreshAt - clock.now())
    await waitFor(() => (cache?.status().history.length ?? 0) > records, { what: 'the refresh' })
    expect(cache?.status()).toMatchObject({ valid: true, stale: false, consecutiveFailures: 0 })
  })

  it('gives a client more only as its bucket refills', async () => {
    const flood = () =>
      Promise.all(
        Array.from({ length: BATCH }, () => get(MALLORY_TOKEN, `dapi-made-up-${randomUUID()}`)),
      )
    await flood()
    let before = mints()
    await flood()
    // No time passed: nothing more.
    expect(mints() - before).toBe(0)
    // Ten seconds pay off the refusals' debt (at most the burst) and refill it: a burst again.
    await clock.advance(10_000)
    before = mints()
    const responses = await flood()
    const calls = mints() - before
    expect(calls).toBeGreaterThanOrEqual(1)
    expect(calls).toBeLessThanOrEqual(USER_MINT_BURST)
    expect(responses.filter((r) => r.status === 429)).toHaveLength(BATCH - calls)
  })
})
