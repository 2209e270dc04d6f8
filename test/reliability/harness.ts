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

/** Polls `check` (no sleeping on the clock under test) until it holds; fails after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  await waitFor(check, { what, timeoutMs, everyMs: 5 })
}

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
  /**
   * Advances the clock in `stepMs` steps (letting the broker's calls finish between them) until
   * `done` holds; fails after `maxMs`. Returns how far the clock moved.
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
  const workspace = createMockWorkspace({
    now: () => clock.worldNow(),
    sleep: (ms) => clock.sleep(ms),
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
  await until(() => cache.status().valid, 'the first credential is held')
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
    async advanceUntil(done, what, maxMs, stepMs = 1_000) {
      for (let moved = 0; ; moved += stepMs) {
        // The broker's upstream calls go through MSW: real promises, settled in real time.
        await new Promise((resolve) => setTimeout(resolve, 10))
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
