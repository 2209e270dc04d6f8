import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CredentialCache } from '../../broker/credential-cache.js'
import { DatabricksProvider } from '../../broker/providers/databricks.js'
import type { CredentialProvider } from '../../broker/providers/provider.js'
import { DEFAULT_REFRESH_POLICY } from '../../broker/refresh-schedule.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { resolveWorkspaceAuth } from '../../shared/databricks/auth/resolve.js'
import { databricksSettingsFromEnv } from '../../shared/databricks/lakebase-settings.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { onUnhandled } from '../../testing/unhandled.js'
import { waitFor } from '../support/wait-for.js'
import { createMockWorkspace } from '../testing/workspace/index.js'

/**
 * Issue 23, item 1: a database credential keeps its own expiry, and the workspace token it is
 * minted with is refreshed at its half-life, behind the held one. Hours of simulated time on the
 * injected clock, against the workspace kit over MSW.
 */

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

/** Counts the provider's fetches in flight, so the test can wait for a refresh it set off. */
class Observed implements CredentialProvider {
  readonly source = 'databricks' as const
  readonly minted: ProviderCredential[] = []
  inFlight = 0
  constructor(private readonly inner: DatabricksProvider) {}
  describe(): Record<string, unknown> {
    return this.inner.describe()
  }
  async fetch(signal: AbortSignal): Promise<ProviderCredential> {
    this.inFlight++
    try {
      const credential = await this.inner.fetch(signal)
      this.minted.push(credential)
      return credential
    } finally {
      this.inFlight--
    }
  }
}

async function setUp() {
  const clock = new ManualClock()
  const ws = createMockWorkspace({
    now: () => clock.now(),
    workspaceTokenLifetimeS: 3600,
    tokenLifetimeS: 3600,
  })
  server.use(...ws.handlers)
  const settings = databricksSettingsFromEnv({
    ...ws.env({ auth: 'oauth-m2m' }),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
  })
  const auth = await resolveWorkspaceAuth(settings.workspace, { clock })
  const provider = new Observed(new DatabricksProvider({ settings, auth, clock }))
  const policy = { ...DEFAULT_REFRESH_POLICY, jitterFraction: 0 }
  const cache = new CredentialCache({ target: 'default', provider, policy, clock })
  cache.start()
  /** Moves the clock a minute at a time, letting each refresh it sets off finish. */
  async function live(durationMs: number) {
    for (let t = 0; t < durationMs; t += MINUTE_MS) {
      await clock.advance(MINUTE_MS)
      await waitFor(() => provider.inFlight === 0, { what: 'the refresh to finish' })
    }
  }
  await waitFor(() => provider.minted.length === 1, { what: 'the first credential' })
  return { clock, ws, provider, cache, policy, live }
}

describe('workspace tokens refreshed at their half-life', () => {
  let stop: (() => void) | undefined
  afterEach(() => stop?.())

  it('over 3 hours of 1-hour workspace tokens, every credential lives 55 minutes or more, minted at the refresh fraction', async () => {
    const { ws, provider, cache, policy, live } = await setUp()
    stop = () => cache.stop()
    await live(3 * HOUR_MS)

    const lifetimesMin = provider.minted.map(
      (c) => (c.expiresAt.getTime() - c.issuedAt.getTime()) / MINUTE_MS,
    )
    expect(Math.min(...lifetimesMin)).toBeGreaterThanOrEqual(55)
    // One at the start, then one each refresh interval (half of a 1-hour credential's life).
    const intervals = (3 * HOUR_MS) / (policy.refreshFraction * HOUR_MS)
    expect(provider.minted).toHaveLength(1 + intervals)
    expect(ws.calls.databaseCredentials).toBe(1 + intervals)
    // The workspace token was renewed ahead of its expiry, about as often.
    expect(ws.calls.oidcToken).toBeGreaterThanOrEqual(3)
    expect(ws.calls.oidcToken).toBeLessThanOrEqual(1 + intervals)
    expect(cache.status()).toMatchObject({ stale: false, consecutiveFailures: 0 })
  })

  it('a failing token endpoint, while the held workspace token is valid, costs no database mint', async () => {
    const { ws, provider, cache, live } = await setUp()
    stop = () => cache.stop()
    // Past the workspace token's half-life, its refresh fails, again and again.
    ws.outage('oidcToken', { status: 503 })
    await live(45 * MINUTE_MS)

    // The credential refresh at 30 minutes minted with the held workspace token.
    expect(provider.minted).toHaveLength(2)
    expect(ws.calls.oidcToken).toBeGreaterThan(1)
    expect(cache.status()).toMatchObject({ stale: false, consecutiveFailures: 0 })
    const second = provider.minted[1]
    expect(second && second.expiresAt.getTime() - second.issuedAt.getTime()).toBe(HOUR_MS)
  })
})
