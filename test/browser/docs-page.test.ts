import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { DOCS_PATH } from '../../functions/docs/swagger-ui.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { listen, type RunningServer } from '../../shared/process/http-server.js'
import { describeInChromium, launchChromium, screenshot, watchTraffic } from '../support/browser.js'
import { captureLogs } from '../support/capture-logs.js'
import { freePort } from '../support/free-port.js'

/** Swagger UI renders in well under a second; a slow CI machine gets more. */
const RENDER_TIMEOUT_MS = 10_000

describeInChromium(`the functions' API docs in Chromium`, () => {
  let browser: Browser
  let server: RunningServer

  beforeAll(async () => {
    // The docs need no database: a broker that is not there is never asked.
    const credentials = connectBroker({
      url: `http://127.0.0.1:${await freePort()}`,
      token: 'unused-client-token',
    })
    const { logger } = captureLogs('functions')
    const app = buildFunctionsApp({
      database: new FunctionsDatabase({ credentials, logger }),
      credentials,
      logger,
      trustForwardedHeaders: false,
      devUser: 'dev-user@example.com',
      preferenceKeys: ['theme'],
    })
    server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('renders every route from the document, with everything served from this origin', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } })
    const page = await context.newPage()
    const traffic = await watchTraffic(context, page)
    await page.goto(`${server.url}${DOCS_PATH}`)

    const paths = page.locator('.opblock-summary-path')
    await paths
      .filter({ hasText: /^\/api\/preferences$/ })
      .first()
      .waitFor({
        timeout: RENDER_TIMEOUT_MS,
      })
    const shown = await paths.allInnerTexts()
    for (const path of [
      '/api/preferences',
      '/api/preferences/{key}',
      '/api/inference-logs',
      '/api/model-serving/invoke',
      '/api/model-serving/endpoints',
      '/api/health/database',
    ]) {
      expect(shown.map((s) => s.replaceAll('\u200b', ''))).toContain(path)
    }
    await screenshot(page, 'api-docs')

    await page.locator('.opblock-summary', { hasText: '/api/model-serving/invoke' }).first().click()
    await page.getByText('MODEL_TIMEOUT').first().waitFor({ timeout: RENDER_TIMEOUT_MS })
    await screenshot(page, 'api-docs-invoke')

    expect(traffic.foreign).toEqual([])
    expect(traffic.errors).toEqual([])
    await context.close()
  })
})
