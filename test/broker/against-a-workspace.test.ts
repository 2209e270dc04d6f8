import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MockWorkspaceServer } from '../../testing/serve.js'
import { freePort, waitFor } from '../support/kit.js'
import { type Spawned, spawnTs } from '../support/process.js'
import { createMockWorkspace, type MockWorkspace } from '../testing/workspace/index.js'

/**
 * The acceptance run, black-box: `npm run broker` as its own process against a workspace
 * served on loopback, handed 20-second tokens. Real time, so it takes about 40 s.
 */
const TOKEN = 'acceptance-client-token-5b0e'
const LIFETIME_S = 20

type Served = {
  user: string
  host: string
  password: string
  stale: boolean
  expiresAt: string
  refreshAt: string
}
type ErrorBody = {
  detail: {
    error_code: string
    retry_after: number | null
    technical_details: Record<string, unknown>
  }
}

/** Polls as a client would, every 100 ms, for as long as `timeoutMs`. */
const every100ms = (timeoutMs: number) => ({ timeoutMs, everyMs: 100 })

describe('npm run broker against a loopback workspace with 20-second tokens', () => {
  let workspace: MockWorkspace
  let server: MockWorkspaceServer
  let broker: Spawned
  let base: string

  beforeAll(async () => {
    workspace = createMockWorkspace({
      host: `http://127.0.0.1:${await freePort()}`,
      identity: 'alice@example.com',
      tokenLifetimeS: LIFETIME_S,
    })
    server = await workspace.listen()
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    broker = spawnTs('broker/main.ts', [], {
      ...workspace.env(),
      BROKER_TOKEN: TOKEN,
      BROKER_PORT: String(port),
      BROKER_MIN_TTL_S: '2',
      XDG_CONFIG_HOME: '/nonexistent',
    })
    await broker.waitFor('broker listening')
  })
  afterAll(async () => {
    await broker?.kill('SIGKILL')
    await server?.close()
  })

  const get = () =>
    fetch(`${base}/v1/credentials`, { headers: { authorization: `Bearer ${TOKEN}` } })

  it('keeps the contract from first request to outage to recovery', async () => {
    // 300 concurrent requests, one upstream credential call.
    const responses = await Promise.all(Array.from({ length: 300 }, get))
    expect(responses.every((r) => r.status === 200)).toBe(true)
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Served[]
    expect(new Set(bodies.map((b) => b.password)).size).toBe(1)
    expect(workspace.calls.databaseCredentials).toBe(1)
    const first = bodies[0] as Served
    expect(first.user).toBe('alice@example.com')
    expect(first.host).toBe(workspace.instances.get(workspace.instanceName)?.read_write_dns)

    // It refreshes by itself before 70 % of the lifetime, with no client asking.
    const issued = Date.parse(first.expiresAt) - LIFETIME_S * 1000
    await waitFor(
      async () => workspace.calls.databaseCredentials >= 2,
      every100ms(LIFETIME_S * 1000),
    )
    expect(Date.now() - issued).toBeLessThan(0.7 * LIFETIME_S * 1000)

    // Upstream answers 500: the last good credential is served, flagged stale.
    workspace.script(
      'databaseCredentials',
      ...Array.from({ length: 1000 }, () => ({ status: 500 })),
    )
    const stale = await waitFor(
      async () => {
        const body = (await (await get()).json()) as Served
        return body.stale ? body : undefined
      },
      every100ms(LIFETIME_S * 1000),
    )
    expect(Date.parse(stale.expiresAt) - Date.now()).toBeGreaterThan(2000)

    // Once it would expire: 503 CREDENTIAL_UNAVAILABLE, never the expired token.
    const refused = await waitFor(
      async () => {
        const response = await get()
        if (response.status === 200) {
          const body = (await response.json()) as Served
          expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(1000)
          return undefined
        }
        return response
      },
      every100ms(LIFETIME_S * 1000),
    )
    expect(refused.status).toBe(503)
    const error = (await refused.json()) as ErrorBody
    expect(error.detail.error_code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(error.detail.retry_after).toBeGreaterThanOrEqual(1)
    expect(error.detail.technical_details).toMatchObject({ upstream_status: 500 })
    expect((await fetch(`${base}/readyz`)).status).toBe(503)

    // Upstream is back: recovered within seconds.
    workspace.unscript('databaseCredentials')
    const backAt = Date.now()
    const recovered = await waitFor(async () => {
      const response = await get()
      return response.status === 200 ? ((await response.json()) as Served) : undefined
    }, every100ms(10_000))
    expect(Date.now() - backAt).toBeLessThan(5_000)
    expect(recovered.stale).toBe(false)

    // No token, password or secret in anything it printed.
    const output = broker.output()
    expect(output).toContain('"method":"pat"')
    for (const secret of [...workspace.minted, workspace.pat, TOKEN])
      expect(output).not.toContain(secret)
  }, 90_000)
})
