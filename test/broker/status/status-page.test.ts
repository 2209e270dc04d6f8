import { describe, expect, it } from 'vitest'
import type { ClientConfig } from '../../../broker/config.js'
import type { StatusView } from '../../../broker/status/status-json.js'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import { flush } from '../../../testing/manual-clock.js'
import { brokerApp } from '../../support/broker-app.js'

const HOUR = 3600_000
const ADMIN = 'admin-client-token-0123456789'
const REPORTS = 'reports-client-token-0123456789'
const clients: ClientConfig[] = [
  { name: 'admin', token: ADMIN, targets: '*' },
  { name: 'reports', token: REPORTS, targets: ['default'] },
]

function setup(options: { statusPage?: boolean } = {}) {
  const broker = brokerApp({ clients, ...options })
  const status = async () => (await (await broker.request('/status.json')).json()) as StatusView
  const warm = async () => (await broker.warm()).default
  return { ...broker, provider: broker.providers.default, status, warm }
}

describe('the status page', () => {
  it('shows each target without a client token, and no secret', async () => {
    const { request, warm } = setup()
    const minted = await warm()
    await flush()
    await request('/v1/credentials', { authorization: `Bearer ${ADMIN}` })

    const response = await request('/')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('content-security-policy')).toMatch(
      /default-src 'none'; script-src 'sha256-[^']+'/,
    )
    const page = await response.text()
    expect(page).toContain('data-target="default"')
    expect(page).toContain('alice@example.com')
    expect(page).toContain('instance-1.database.cloud.databricks.com')
    expect(page).toContain('in 1 h 0 m 0 s')
    expect(page).toContain('in 30 m 0 s')
    expect(page).toMatch(/<span data-field="readiness" class="badge ok">ready<\/span>/)
    expect(page).not.toContain(minted.password)
    expect(page).not.toContain(ADMIN)
    expect(page).not.toContain(REPORTS)
  })

  it('serves the same facts as JSON for its script', async () => {
    const { status, warm, clock } = setup()
    const minted = await warm()
    await flush()
    const view = await status()
    expect(view).toMatchObject({
      ready: true,
      draining: false,
      now_ms: clock.now(),
      targets: [
        {
          target: 'default',
          source: 'static',
          valid: true,
          stale: false,
          user: 'alice@example.com',
          expires_at: minted.expiresAt.toISOString(),
          expires_at_ms: minted.expiresAt.getTime(),
          next_refresh_at_ms: clock.now() + HOUR / 2,
          consecutive_failures: 0,
          last_error: null,
          history: [{ outcome: 'success', error_class: null }],
        },
      ],
    })
    expect(JSON.stringify(view)).not.toContain(minted.password)
  })

  it('shows a failed refresh: stale, its error class and upstream status, newest first', async () => {
    const { status, request, warm, clock, provider } = setup()
    await warm()
    await clock.advance(HOUR / 2)
    provider.fail(
      new UpstreamError('upstream_5xx', 'the workspace answered 503', {
        upstreamStatus: 503,
        upstreamErrorCode: 'TEMPORARILY_UNAVAILABLE',
      }),
    )
    await flush()
    const [target] = (await status()).targets
    expect(target).toMatchObject({
      stale: true,
      valid: true,
      consecutive_failures: 1,
      last_error: {
        error_class: 'upstream_5xx',
        upstream_status: 503,
        upstream_error_code: 'TEMPORARILY_UNAVAILABLE',
      },
      history: [
        { outcome: 'failure', error_class: 'upstream_5xx' },
        { outcome: 'success', error_class: null },
      ],
    })
    expect(target?.next_refresh_at_ms).toBeGreaterThan(clock.now())
    const page = await (await request('/')).text()
    expect(page).toMatch(/class="badge warn">stale</)
    expect(page).toContain('upstream_5xx (transient)')
  })

  it('counts requests per caller over the last minute and the last five', async () => {
    const { status, request, warm, clock } = setup()
    await warm()
    await flush()
    for (const token of [ADMIN, ADMIN, REPORTS, 'wrong-token-000000000000']) {
      await request('/v1/credentials', { authorization: `Bearer ${token}` })
    }
    expect((await status()).requests.callers).toEqual([
      { caller: 'admin', last_minute: 2, total: 2 },
      { caller: 'reports', last_minute: 1, total: 1 },
    ])
    clock.jump(2 * 60_000)
    expect((await status()).requests.callers).toEqual([
      { caller: 'admin', last_minute: 0, total: 2 },
      { caller: 'reports', last_minute: 0, total: 1 },
    ])
    clock.jump(4 * 60_000)
    expect((await status()).requests.callers).toEqual([])
  })

  it('says not ready before the first credential and while draining', async () => {
    const { status, warm, drain } = setup()
    expect(await status()).toMatchObject({ ready: false, targets: [{ valid: false }] })
    await warm()
    await flush()
    expect((await status()).ready).toBe(true)
    drain()
    expect(await status()).toMatchObject({ ready: false, draining: true })
  })

  it('escapes what upstream wrote: an error message is text, never markup', async () => {
    const { request, warm, clock, provider } = setup()
    await warm()
    await clock.advance(HOUR / 2)
    provider.fail(new UpstreamError('upstream_5xx', '<img src=x onerror=alert(1)>'))
    await flush()
    const page = await (await request('/')).text()
    expect(page).not.toContain('<img src=x')
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;')
  })

  it.each([
    ['a foreign Host', { host: 'evil.example.com' }],
    ['a proxied request', { 'x-forwarded-for': '10.0.0.1' }],
    ['a cross-site request', { 'sec-fetch-site': 'cross-site' }],
  ])('refuses %s with 403, as every broker route', async (_name, headers) => {
    const { request } = setup()
    for (const path of ['/', '/status.json']) {
      expect((await request(path, headers)).status).toBe(403)
    }
  })

  it('is not served with statusPage: false (BROKER_STATUS_PAGE=false)', async () => {
    const { request } = setup({ statusPage: false })
    expect((await request('/')).status).toBe(404)
    expect((await request('/status.json')).status).toBe(404)
    expect((await request('/healthz')).status).toBe(200)
  })
})
