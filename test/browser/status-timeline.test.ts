import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { listen } from '../../shared/process/http-server.js'
import { flush, MANUAL_CLOCK_START } from '../../testing/manual-clock.js'
import { brokerApp } from '../support/broker-app.js'
import {
  describeInChromium,
  launchChromium,
  type PageTraffic,
  screenshot,
  watchTraffic,
} from '../support/browser.js'
import { waitFor } from '../support/wait-for.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const T0 = MANUAL_CLOCK_START
/** The page polls every 2 s; a change shows within one poll, with room for a slow CI. */
const WAIT_MS = 10_000
const CLIENT_TOKEN = 'timeline-browser-client-token-4d2e81'
const clients: ClientConfig[] = [{ name: 'app', token: CLIENT_TOKEN, targets: '*' }]

/**
 * What the scripted broker went through (1-hour credentials, refreshed at half-life, no jitter),
 * and so what the timeline must show at the end, at T0 + 85 min.
 */
const NOW = T0 + 85 * MINUTE
const AXIS = { from: T0, to: T0 + 105 * MINUTE }
const CREDENTIALS = [
  { ordinal: 1, issued: T0, refresh: T0 + 30 * MINUTE, expires: T0 + HOUR, state: 'expired' },
  {
    ordinal: 2,
    issued: T0 + 30 * MINUTE,
    refresh: T0 + HOUR,
    expires: T0 + 90 * MINUTE,
    state: 'replaced',
  },
  {
    ordinal: 3,
    issued: T0 + 45 * MINUTE,
    refresh: T0 + 75 * MINUTE,
    expires: T0 + 105 * MINUTE,
    state: 'held',
  },
]
/** Each mark: its time, its classes, and its fill and outline as the style sheet paints them. */
const GREEN = 'rgb(26, 127, 55)'
const AMBER = 'rgb(191, 135, 0)'
const RED = 'rgb(207, 34, 46)'
const PURPLE = 'rgb(130, 80, 223)'
/** A success is a circle, a failure a triangle (a path). */
const mark = (at: number, classes: string, fill: string, stroke = 'none') => ({
  at,
  shape: classes.includes('success') ? 'circle' : 'path',
  classes,
  fill,
  stroke,
})
const REFRESHES = [
  mark(T0, 'refresh success', GREEN),
  mark(T0 + 30 * MINUTE, 'refresh success', GREEN),
  mark(T0 + 45 * MINUTE, 'refresh success forced', GREEN, PURPLE),
  mark(T0 + 75 * MINUTE, 'refresh failure transient', AMBER),
  mark(T0 + 85 * MINUTE, 'refresh failure permanent', RED),
]

type Box = { x: number; y: number; width: number; height: number }

/** Within a CSS pixel (by default): the drawing's coordinates are rounded to a tenth of a unit. */
function near(actual: number, expected: number, what: string, tolerance = 1) {
  expect(
    Math.abs(actual - expected),
    `${what}: ${actual} px, expected ${expected} px`,
  ).toBeLessThan(tolerance)
}

async function box(locator: Locator): Promise<Box> {
  const found = await locator.boundingBox()
  if (!found) throw new Error(`no box for ${locator}`)
  return found
}

const centreX = (b: Box) => b.x + b.width / 2

/** The width and height a PNG says it has (its IHDR chunk). */
function pngSize(png: Buffer) {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

describeInChromium('the status page timeline in Chromium', () => {
  let browser: Browser

  beforeAll(async () => {
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
  })

  /** The broker on a manual clock, served over HTTP on loopback. */
  async function startBroker() {
    const broker = brokerApp({ clients })
    const server = await listen(broker.app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
    onTestFinished(() => server.close())
    return { ...broker, provider: broker.providers.default, url: server.url }
  }

  async function open(url: string, javaScriptEnabled: boolean) {
    const context = await browser.newContext({
      javaScriptEnabled,
      viewport: { width: 1000, height: 900 },
    })
    onTestFinished(() => context.close())
    const page = await context.newPage()
    const traffic = await watchTraffic(context, page)
    await page.goto(`${url}/`)
    return { page, traffic }
  }

  /**
   * Checks the drawing against the script: each bar spans its credential's issue to expiry on the
   * axis, its refresh point sits inside it at the right fraction, each mark at its time, styled by
   * outcome and kind, the now line at now; and a screenshot of the drawing is the drawing's size.
   */
  async function expectTimeline(page: Page, name: string) {
    const svg = page.locator('[data-target="default"] [data-timeline] svg')
    expect(Number(await svg.getAttribute('data-from'))).toBe(AXIS.from)
    expect(Number(await svg.getAttribute('data-to'))).toBe(AXIS.to)
    const drawing = await box(svg)
    const axis = await box(svg.locator('line.axis'))
    const x = (ms: number) => axis.x + ((ms - AXIS.from) / (AXIS.to - AXIS.from)) * axis.width
    expect(axis.width).toBeGreaterThan(drawing.width * 0.8)

    const bars: Box[] = []
    for (const c of CREDENTIALS) {
      const rect = svg.locator(`rect.credential[data-ordinal="${c.ordinal}"]`)
      expect(await rect.getAttribute('class')).toBe(`credential ${c.state}`)
      const bar = await box(rect)
      near(bar.x, x(c.issued), `credential #${c.ordinal} starts at its issue`)
      near(bar.x + bar.width, x(c.expires), `credential #${c.ordinal} ends at its expiry`)
      const point = await box(svg.locator(`line.refresh-point[data-ordinal="${c.ordinal}"]`))
      near(centreX(point), x(c.refresh), `credential #${c.ordinal}'s refresh point`)
      expect((centreX(point) - bar.x) / bar.width).toBeCloseTo(
        (c.refresh - c.issued) / (c.expires - c.issued),
        2,
      )
      expect(point.y).toBeLessThanOrEqual(bar.y)
      expect(point.y + point.height).toBeGreaterThanOrEqual(bar.y + bar.height)
      bars.push(bar)
    }
    // One row per credential, oldest on top, every bar inside the drawing.
    for (const [i, bar] of bars.entries()) {
      if (i > 0)
        expect(bar.y).toBeGreaterThanOrEqual((bars[i - 1]?.y ?? 0) + (bars[i - 1]?.height ?? 0))
      expect(bar.x).toBeGreaterThanOrEqual(drawing.x)
      expect(bar.x + bar.width).toBeLessThanOrEqual(drawing.x + drawing.width)
    }
    const lowestBar = Math.max(...bars.map((b) => b.y + b.height))

    expect(await svg.locator('.refresh').count()).toBe(REFRESHES.length)
    for (const r of REFRESHES) {
      const mark = svg.locator(`.refresh[data-at="${r.at}"]`)
      expect(await mark.evaluate((el) => el.tagName)).toBe(r.shape)
      expect(await mark.getAttribute('class')).toBe(r.classes)
      const painted = await mark.evaluate((el) => {
        const style = el.ownerDocument.defaultView?.getComputedStyle(el)
        return { fill: style?.fill, stroke: style?.stroke }
      })
      expect(painted).toEqual({ fill: r.fill, stroke: r.stroke })
      const b = await box(mark)
      near(centreX(b), x(r.at), `the mark of ${r.classes} at ${new Date(r.at).toISOString()}`)
      expect(b.y).toBeGreaterThan(lowestBar)
      expect(b.y + b.height).toBeLessThan(axis.y)
    }
    near(centreX(await box(svg.locator('line.now'))), x(NOW), 'the now line')

    const labels = svg.locator('text.tick-label')
    expect(await labels.allTextContents()).toEqual(['19:00', '19:30', '20:00', '20:30'])
    for (const [i, at] of [T0, T0 + 30 * MINUTE, T0 + HOUR, T0 + 90 * MINUTE].entries()) {
      near(centreX(await box(labels.nth(i))), x(at), `the tick label at ${at}`, 2)
    }
    expect(await svg.locator('.refresh.permanent title').textContent()).toBe(
      '20:25:00 UTC: refresh failed, forbidden (permanent)',
    )

    const shot = pngSize(await svg.screenshot())
    near(shot.width, drawing.width, 'the screenshot of the timeline', 1.5)
    near(shot.height, drawing.height, 'the screenshot of the timeline', 1.5)
    await screenshot(page, name)
  }

  /** Every element of the drawing, by tag, class and box: to compare two drawings. */
  async function shapes(page: Page) {
    const drawn = page.locator('[data-target="default"] [data-timeline] svg > *')
    return drawn.evaluateAll((elements) =>
      elements.map((el) => {
        const r = el.getBoundingClientRect()
        const round = (v: number) => Math.round(v * 2) / 2
        return [
          el.tagName,
          el.getAttribute('class'),
          round(r.x),
          round(r.y),
          round(r.width),
          round(r.height),
        ]
      }),
    )
  }

  async function expectNoSecret(page: Page, traffic: PageTraffic, minted: ProviderCredential[]) {
    const seen = [await page.content(), ...(await traffic.bodies())].join('\n')
    expect(minted.length).toBe(CREDENTIALS.length)
    for (const credential of minted) expect(seen).not.toContain(credential.password)
    expect(seen).not.toContain(CLIENT_TOKEN)
    expect(traffic.foreign).toEqual([])
    expect(traffic.errors).toEqual([])
  }

  it('draws each credential from issue to expiry with its refresh point, and every refresh, forced refresh and error at its time: live, and the same without JavaScript', async () => {
    const { clock, provider, warm, url } = await startBroker()
    const minted = [(await warm()).default]
    await clock.advance(30 * MINUTE)
    minted.push(provider.succeed(HOUR))
    await flush()

    // The page is open while the rest happens: its script redraws the timeline from /status.json.
    const live = await open(url, true)
    const svg = live.page.locator('[data-target="default"] [data-timeline] svg')
    expect(await svg.locator('rect.credential').count()).toBe(2)

    // A client reports credential #2 refused: a forced refresh mints #3.
    await clock.advance(15 * MINUTE)
    const auth = { authorization: `Bearer ${CLIENT_TOKEN}` }
    const { version } = (await (
      await fetch(`${url}/v1/credentials`, { headers: auth })
    ).json()) as {
      version: string
    }
    const report = fetch(`${url}/v1/credentials/default/refresh`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ refused: version }),
    })
    await waitFor(() => provider.pending.length === 1, { what: 'the forced refresh' })
    minted.push(provider.succeed(HOUR))
    expect((await report).status).toBe(200)
    // #3's scheduled refresh meets a 503 asking for 10 minutes' pause, then a 403.
    await clock.advance(30 * MINUTE)
    provider.fail(
      new UpstreamError('upstream_5xx', 'the workspace answered 503', {
        upstreamStatus: 503,
        retryAfterMs: 10 * MINUTE,
      }),
    )
    await clock.advance(10 * MINUTE)
    provider.fail(
      new UpstreamError('forbidden', 'the workspace answered 403', { upstreamStatus: 403 }),
    )
    await flush()
    expect(clock.now()).toBe(NOW)

    await svg.locator('.refresh.permanent').waitFor({ timeout: WAIT_MS })
    expect(await live.page.locator('[data-field="poll"]').textContent()).toMatch(/^live/)
    await expectTimeline(live.page, 'status-timeline')

    const still = await open(url, false)
    expect(await still.page.locator('[data-field="poll"]').textContent()).toBe('reload to update')
    await expectTimeline(still.page, 'status-timeline-no-javascript')
    // The script draws exactly what the server drew.
    expect(await shapes(live.page)).toEqual(await shapes(still.page))

    await expectNoSecret(live.page, live.traffic, minted)
    await expectNoSecret(still.page, still.traffic, minted)
  })
})
