import type { SetupServer } from 'msw/node'
import { expect } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import type { CredentialCache } from '../../broker/credential-cache.js'
import type { Credential } from '../../shared/client/credential.js'
import type { ErrorBody } from '../../shared/client/errors.js'
import type { UnhandledStrategy } from '../../testing/unhandled.js'
import { startTestBroker, TEST_CLIENT_TOKEN, waitFor } from '../support/kit.js'
import { createMockWorkspace, ManualClock, type MockWorkspace } from '../testing/workspace/index.js'
import type { SecretRegistry } from './secrets.js'

/** MSW handles the workspace; the test's own requests to the broker on loopback pass through. */
export function loopbackPassesThrough(request: Request): UnhandledStrategy {
  const { hostname } = new URL(request.url)
  return hostname === '127.0.0.1' || hostname === 'localhost' ? 'bypass' : 'error'
}

/** An answer from the broker's credential endpoint. */
export type BrokerAnswer =
  | { ok: true; status: 200; body: Credential }
  | { ok: false; status: number; body: ErrorBody; retryAfter: string | null }

export interface FaultyBroker {
  clock: ManualClock
  workspace: MockWorkspace
  broker: RunningBroker
  cache: CredentialCache
  /** Everything the broker logged so far. */
  logs(): string
  /** `GET /v1/credentials` with the client token; error bodies go to the secret search. */
  get(): Promise<BrokerAnswer>
  /** `GET /v1/credentials`, which must answer 200. */
  credential(): Promise<Credential>
  /** `GET /metrics`' text. */
  metrics(): Promise<string>
  /** `GET /readyz`'s body. */
  readiness(): Promise<{ ready: boolean; targets: Array<{ last_error: unknown }> }>
  /** The workspace holds an answer until the clock moves (a `latency` fault, on this clock). */
  upstreamOnClock(): boolean
  /**
   * Advances the clock in `stepMs` steps until `done` holds; fails after `maxMs`. Before each
   * step the broker's upstream call, if any, runs until it answers or waits on the clock (it goes
   * through MSW: real promises, settled in real time). Returns how far the clock moved.
   */
  advanceUntil(done: () => boolean, what: string, maxMs: number, stepMs?: number): Promise<number>
  close(): Promise<void>
}

/**
 * A real broker in this process (HTTP on loopback) against a mock workspace served by MSW, both
 * on one manual clock: the workspace mints in the world's time (`clock.worldNow()`), its latency
 * is advanced by the test, and the broker reads the clock the test moves.
 */
export async function startFaultyBroker(options: {
  server: SetupServer
  secrets: SecretRegistry
  clock?: ManualClock
  tokenLifetimeS?: number
  env?: Record<string, string>
  /** Bearer tokens the workspace accepts besides its own (e.g. one a CLI stub prints). */
  acceptedTokens?: string[]
}): Promise<FaultyBroker> {
  const clock = options.clock ?? new ManualClock()
  let heldOnClock = 0
  const workspace = createMockWorkspace({
    now: () => clock.worldNow(),
    // Counted, so that the test moves the clock only when the broker waits on nothing else.
    sleep: async (ms) => {
      heldOnClock += 1
      try {
        await clock.sleep(ms)
      } finally {
        heldOnClock -= 1
      }
    },
    tokenLifetimeS: options.tokenLifetimeS ?? 3600,
    acceptedTokens: options.acceptedTokens,
  })
  options.server.use(...workspace.handlers)
  const { broker, logs, url } = await startTestBroker(
    {
      ...workspace.env(),
      DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
      ...options.env,
    },
    { clock, random: () => 0 },
  )
  const { secrets } = options
  secrets.secret('the workspace PAT', workspace.pat)
  secrets.secret('the OAuth client secret', workspace.clientSecret)
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  secrets.secretsFrom('a minted workspace token', () => workspace.minted)
  secrets.output('broker logs', logs.text)
  const cache = broker.caches.get('default')
  if (cache === undefined) throw new Error('no default target')
  const headers = { authorization: `Bearer ${TEST_CLIENT_TOKEN}` }

  const get = async (): Promise<BrokerAnswer> => {
    const response = await fetch(`${url}/v1/credentials`, { headers })
    const text = await response.text()
    if (response.status === 200) {
      return { ok: true, status: 200, body: JSON.parse(text) as Credential }
    }
    secrets.output(`error body ${response.status}`, text)
    return {
      ok: false,
      status: response.status,
      body: JSON.parse(text) as ErrorBody,
      retryAfter: response.headers.get('retry-after'),
    }
  }
  const upstreamOnClock = () => heldOnClock > 0
  await waitFor(() => cache.status().valid, { what: 'the first credential is held' })
  return {
    clock,
    workspace,
    broker,
    cache,
    logs: logs.text,
    get,
    async credential() {
      const answer = await get()
      if (!answer.ok) expect.fail(`expected a credential, got ${JSON.stringify(answer.body)}`)
      return answer.body
    },
    async metrics() {
      const text = await (await fetch(`${url}/metrics`)).text()
      secrets.output('metrics', text)
      return text
    },
    async readiness() {
      const text = await (await fetch(`${url}/readyz`)).text()
      secrets.output('readyz', text)
      return JSON.parse(text)
    },
    upstreamOnClock,
    async advanceUntil(done, what, maxMs, stepMs = 1_000) {
      const waitsOnClock = () => !cache.status().fetching || upstreamOnClock()
      for (let moved = 0; ; moved += stepMs) {
        await waitFor(() => done() || waitsOnClock(), {
          what: `${what}, or the broker waits on the clock`,
        })
        if (done()) return moved
        if (moved >= maxMs) throw new Error(`${what} did not happen within ${maxMs} ms`)
        await clock.advance(stepMs)
      }
    },
    async close() {
      secrets.output('metrics', await (await fetch(`${url}/metrics`)).text())
      await broker.close()
    },
  }
}
