import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { OPENAPI_PATH } from '../../functions/docs/swagger-ui.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { listen, type RunningServer } from '../../shared/process/http-server.js'
import { describeInChromium, launchChromium } from '../support/browser.js'
import { captureLogs } from '../support/capture-logs.js'
import { freePort } from '../support/free-port.js'

/** Rounds of (oversized PUT, small GET); Chromium takes about a second for each big PUT here. */
const ROUNDS = 10
const MIB = 1024 * 1024

describeInChromium('a 413 sent before the body is read, in Chromium', () => {
  let browser: Browser
  let server: RunningServer

  beforeAll(async () => {
    // The body limit answers before any route runs: no database or broker is asked.
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

  it(`reaches a page's fetch ${ROUNDS} times for 1 and 10 MiB bodies, and the GETs between go through`, async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}${OPENAPI_PATH}`)
    const answers = await page.evaluate(
      async ({ rounds, sizes, openapi }) => {
        const counts: Record<string, number> = {}
        const note = (answer: string) => {
          counts[answer] = (counts[answer] ?? 0) + 1
        }
        for (let i = 0; i < rounds; i++) {
          const size = sizes[i % sizes.length] as number
          try {
            const response = await fetch('/api/preferences/theme', {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: new Uint8Array(size).fill(0x20),
            })
            const body = (await response.json()) as { detail?: { error_code?: string } }
            note(`PUT ${response.status} ${body.detail?.error_code}`)
          } catch (err) {
            note(`PUT failed: ${(err as Error).message}`)
          }
          try {
            note(`GET ${(await fetch(openapi)).status}`)
          } catch (err) {
            note(`GET failed: ${(err as Error).message}`)
          }
        }
        return counts
      },
      { rounds: ROUNDS, sizes: [1 * MIB, 10 * MIB], openapi: OPENAPI_PATH },
    )
    expect(answers).toEqual({ 'PUT 413 PAYLOAD_TOO_LARGE': ROUNDS, 'GET 200': ROUNDS })
  }, 120_000)
})
