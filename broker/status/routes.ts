import { Hono } from 'hono'
import { STATUS_PAGE_CSP, statusPage } from './page.js'
import type { StatusView } from './status-json.js'

/**
 * `GET /` (the status page) and `GET /status.json` (what it polls). Both need no client token,
 * like `/readyz`, and show no secret; the broker's request guard (Host, proxy and cross-site
 * checks) applies to them as to every route.
 */
export function statusRoutes(view: () => StatusView) {
  return new Hono()
    .get('/', (c) => {
      c.header('Content-Security-Policy', STATUS_PAGE_CSP)
      c.header('X-Content-Type-Options', 'nosniff')
      c.header('Referrer-Policy', 'no-referrer')
      return c.html(statusPage(view()))
    })
    .get('/status.json', (c) => c.json(view()))
}
