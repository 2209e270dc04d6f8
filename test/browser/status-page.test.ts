import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { CredentialCache } from '../../broker/credential-cache.js'
import { BrokerMetrics } from '../../broker/metrics.js'
import type { RefreshPolicy } from '../../broker/refresh-schedule.js'
import { createBrokerApp } from '../../broker/server.js'
import { systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { listen, type RunningServer } from '../../shared/process/http-server.js'
import {
  describeInChromium,
  launchChromium,
  type PageTraffic,
  screenshot,
  watchTraffic,
} from '../support/browser.js'
import { captureLogs } from '../support/capture-logs.js'
import { ScriptedProvider } from '../support/scripted-provider.js'

/** Credentials live a minute; refreshing at 5 % of that rotates one every 3 s of real time. */
const LIFETIME_MS = 60_000
const POLICY: RefreshPolicy = { refreshFraction: 0.05, minTtlMs: 1_000, jitterFraction: 0 }
/** Long enough for a refresh (3 s) plus the page's next poll (2 s), with room for a slow CI. */
const WAIT_MS = 10_000
const CLIENT_TOKEN = 'browser-test-client-token-7f3a9c'
const clients: ClientConfig[] = [{ name: 'functions', token: CLIENT_TOKEN, targets: '*' }]

describeInChromium(`the broker status page in Chromium`, () => {
  let browser: Browser
  let server: RunningServer
  let cache: CredentialCache
  let provider: ScriptedProvider
  const minted: ProviderCredential[] = []

  /** Answers the cache's next fetch (the scheduled refresh, in real time) with `answer`. */
  async function nextFetch(answer: (p: ScriptedProvider) => void) {
    await vi.waitFor(() => expect(provider.pending.length).toBe(1), { timeout: WAIT_MS })
    answer(provider)
  }

  beforeAll(async () => {
    provider = new ScriptedProvider(systemClock)
    cache = new CredentialCache({ target: 'default', provider, policy: POLICY, random: () => 0 })
    const app = createBrokerApp({
      caches: new Map([['default', cache]]),
      clients,
      allowedHosts: [],
      metrics: new BrokerMetrics(() => [cache.status()]),
      logger: captureLogs('broker').logger,
      draining: () => false,
    })
    server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
    cache.start()
    await nextFetch((p) => minted.push(p.succeed(LIFETIME_MS)))
    // A client reads its credential, so the page has a caller to count.
    const served = await fetch(`${server.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
    })
    expect(served.status).toBe(200)
    browser = await launchChromium()
  })

  afterAll(async () => {
    cache?.stop()
    await browser?.close()
    await server?.close()
  })

  async function open(options: { javaScriptEnabled?: boolean } = {}) {
    const context = await browser.newContext({
      ...options,
      viewport: { width: 1000, height: 900 },
    })
    const page = await context.newPage()
    const traffic = await watchTraffic(context, page)
    await page.goto(`${server.url}/`)
    return { page, traffic, close: () => context.close() }
  }

  const text = async (page: Page, selector: string) =>
    (await page.locator(selector).first().textContent())?.trim() ?? ''
  const seconds = (countdown: string) => {
    const match = /^in (?:(\d+) h )?(?:(\d+) m )?(\d+) s$/.exec(countdown)
    if (!match) throw new Error(`not a countdown: ${countdown}`)
    return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3])
  }

  async function expectNoSecret(page: Page, traffic: PageTraffic) {
    const seen = [await page.content(), ...(await traffic.bodies())].join('\n')
    for (const credential of minted) expect(seen).not.toContain(credential.password)
    expect(seen).not.toContain(CLIENT_TOKEN)
    expect(traffic.foreign).toEqual([])
    expect(traffic.errors).toEqual([])
  }

  it('counts down to expiry, shows a rotation and then a failed refresh, and no secret', async () => {
    const { page, traffic, close } = await open()
    const target = '[data-target="default"]'
    expect(await text(page, `${target} [data-field="user"]`)).toBe('alice@example.com')
    expect(await text(page, `${target} [data-field="state"]`)).toBe('fresh')
    expect(await text(page, '[data-list="callers"] td')).toBe('functions')

    const first = seconds(await text(page, `${target} [data-field="expires_in"]`))
    await page.waitForTimeout(1_500)
    const later = seconds(await text(page, `${target} [data-field="expires_in"]`))
    expect(first - later).toBeGreaterThanOrEqual(1)
    expect(first - later).toBeLessThanOrEqual(3)
    await screenshot(page, 'status-fresh')

    await nextFetch((p) => minted.push(p.succeed(LIFETIME_MS)))
    await page.locator(`${target} [data-list="history"] tr`).nth(1).waitFor({ timeout: WAIT_MS })
    expect(await text(page, `${target} [data-list="history"] tr td:nth-child(2)`)).toBe('success')
    await screenshot(page, 'status-rotated')

    await nextFetch((p) =>
      p.fail(
        new UpstreamError('upstream_5xx', 'the workspace answered 503', {
          upstreamStatus: 503,
          upstreamErrorCode: 'TEMPORARILY_UNAVAILABLE',
        }),
      ),
    )
    await page
      .locator(`${target} [data-field="state"]`, { hasText: /^stale$/ })
      .waitFor({ timeout: WAIT_MS })
    expect(await text(page, `${target} [data-list="history"] tr td:nth-child(4)`)).toBe(
      'upstream_5xx',
    )
    expect(await text(page, `${target} [data-field="last_error"]`)).toContain(
      'upstream_5xx (transient)',
    )
    expect(await text(page, `${target} [data-field="stale"]`)).toMatch(/^yes/)
    await screenshot(page, 'status-stale')

    await expectNoSecret(page, traffic)
    await close()
  })

  it('is complete without JavaScript, without a countdown', async () => {
    const { page, traffic, close } = await open({ javaScriptEnabled: false })
    const expires = await text(page, '[data-target="default"] [data-field="expires_in"]')
    expect(seconds(expires)).toBeGreaterThan(0)
    expect(await text(page, '[data-field="poll"]')).toBe('reload to update')
    expect(await page.locator('[data-list="history"] tr').count()).toBeGreaterThan(0)
    await screenshot(page, 'status-no-javascript')
    await expectNoSecret(page, traffic)
    await close()
  })
})
