import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { BrokerMetrics } from '../../broker/metrics.js'
import type { PgbouncerStatus } from '../../broker/pgbouncer/pgbouncer.js'
import { createBrokerApp } from '../../broker/server.js'
import { listen, type RunningServer } from '../../shared/process/http-server.js'
import { browserMissing, launchChromium, screenshot, watchTraffic } from '../support/browser.js'
import { captureLogs } from '../support/capture-logs.js'
import { pgbouncerMissing } from '../support/pgbouncer.js'
import { describeRequiring } from '../support/requirement.js'

/** The page polls every 2 s; a change shows within one poll, with room for a slow CI. */
const WAIT_MS = 10_000
const clients: ClientConfig[] = [
  { name: 'functions', token: 'browser-test-client-token-pgbouncer', targets: '*' },
]

/** What the pooler reports, changed by the test between polls (its figures, as SHOW POOLS gives them). */
const status: PgbouncerStatus = {
  version: '1.18.0',
  up: true,
  pid: 4242,
  socket: '/home/alice/.lakebase/pgbouncer/.s.PGSQL.6432',
  tcp: undefined,
  poolMode: 'session',
  restarts: 0,
  serverConnections: 2,
  refusedLogins: 0,
  figures: {
    at: Date.now(),
    pools: [
      {
        database: 'databricks_postgres',
        clientsActive: 3,
        clientsWaiting: 0,
        serversActive: 2,
        serversIdle: 1,
        serversUsed: 0,
        serversLogin: 0,
        maxWaitS: 0,
        poolMode: 'session',
      },
    ],
    stats: [
      {
        database: 'databricks_postgres',
        transactions: 120,
        queries: 240,
        clientWaitS: 0,
        avgTransactionUs: 900,
      },
    ],
  },
}

describeRequiring(
  browserMissing ?? pgbouncerMissing,
  'the status page with PgBouncer, in Chromium',
  () => {
    let browser: Browser
    let server: RunningServer

    beforeAll(async () => {
      const app = createBrokerApp({
        caches: new Map(),
        clients,
        allowedHosts: [],
        metrics: new BrokerMetrics(() => []),
        logger: captureLogs('broker').logger,
        draining: () => false,
        pgbouncer: () => status,
      })
      server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
      browser = await launchChromium()
    })

    afterAll(async () => {
      await browser?.close()
      await server?.close()
    })

    it("shows PgBouncer's pools in a section of its own and keeps them live, within the page's CSP", async () => {
      const context = await browser.newContext({ viewport: { width: 1000, height: 900 } })
      const page = await context.newPage()
      const traffic = await watchTraffic(context, page)
      await page.goto(`${server.url}/`)
      const section = page.locator('[data-section="pgbouncer"]')
      expect(await section.locator('h2').textContent()).toContain('PgBouncer 1.18.0')
      expect(await section.locator('[data-list="pools"] td').allTextContents()).toEqual([
        'databricks_postgres',
        '3',
        '0',
        '2',
        '1',
        '0',
        '0.0 s',
        '120',
      ])

      // PgBouncer dies and is restarted; clients wait meanwhile.
      status.restarts = 1
      status.serverConnections = 3
      const pool = status.figures?.pools[0]
      if (pool) pool.clientsWaiting = 5
      await section
        .locator('[data-field="pgbouncer_summary"]', { hasText: '1 restart(s)' })
        .waitFor({ timeout: WAIT_MS })
      expect(await section.locator('[data-list="pools"] td').nth(2).textContent()).toBe('5')
      expect(await section.locator('[data-field="pgbouncer_summary"]').textContent()).toBe(
        'up (pid 4242), 1 restart(s), 3 server connection(s) opened, 0 login(s) refused',
      )
      await screenshot(page, 'status-pgbouncer')
      expect(traffic.errors).toEqual([])
      expect(traffic.foreign).toEqual([])
      await context.close()
    })
  },
)
