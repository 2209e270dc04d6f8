import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { describeRequiring } from './requirement.js'

/** Debian's Chromium, which CI installs; `CHROMIUM_PATH` points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Why browser tests cannot run here, or undefined when they can. */
export const browserMissing: string | undefined = existsSync(CHROMIUM_PATH)
  ? undefined
  : `${CHROMIUM_PATH} is not installed (apt-get install chromium, or set CHROMIUM_PATH)`

/**
 * `describe` for tests that drive Chromium: skipped, with the reason in the suite's name and a
 * warning, where Chromium is missing; under CI=true, one failing test naming what is missing.
 */
export function describeInChromium(name: string, suite: () => void): void {
  describeRequiring(browserMissing, name, suite)
}

/** Where browser tests leave their screenshots (git-ignored). */
export const SCREENSHOT_DIR = join('test-artifacts', 'screenshots')

/**
 * Headless Chromium with nothing of its own going on: no GPU, no QUIC, no background calls home,
 * a fresh temporary profile.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** What a page fetched and tried to fetch, to search for secrets and stray origins. */
export interface PageTraffic {
  /** Every response body the page received (text). */
  bodies(): Promise<string[]>
  /** Requests to anywhere but the loopback server under test; they are blocked. */
  readonly foreign: string[]
  /** Console errors and uncaught exceptions. */
  readonly errors: string[]
}

/**
 * Records a page's traffic, and blocks every request that leaves loopback (a CDN, an analytics
 * call), noting it in `foreign`.
 */
export async function watchTraffic(context: BrowserContext, page: Page): Promise<PageTraffic> {
  const pending: Promise<string>[] = []
  const foreign: string[] = []
  const errors: string[] = []
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1') return route.continue()
    foreign.push(url.href)
    return route.abort()
  })
  page.on('response', (response) => {
    pending.push(response.text().catch(() => ''))
  })
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  return { bodies: () => Promise.all(pending), foreign, errors }
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true })
}
