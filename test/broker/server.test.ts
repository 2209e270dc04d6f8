import { describe, expect, it } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { servedCredentialSchema } from '../../shared/credential.js'
import { ProviderError } from '../../shared/provider-error.js'
import { flush } from '../../testing/manual-clock.js'
import { brokerApp } from '../support/broker-app.js'

const HOUR = 3600_000
const ADMIN = 'admin-client-token-0123456789'
const REPORTS = 'reports-client-token-0123456789'
const clients: ClientConfig[] = [
  { name: 'admin', token: ADMIN, targets: '*' },
  { name: 'reports', token: REPORTS, targets: ['reporting'] },
]

function setup() {
  return brokerApp({
    clients,
    targets: ['default', 'reporting'],
    allowedHosts: ['broker.internal'],
  })
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function errorCode(response: Response) {
  const body = (await response.json()) as { detail: { error_code: string } }
  return body.detail.error_code
}

describe('the broker endpoint', () => {
  it('hands the default target to a client with a valid token, with no-store caching', async () => {
    const { request, warm } = setup()
    const minted = await warm()
    await flush()
    const response = await request('/v1/credentials', bearer(ADMIN))
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = servedCredentialSchema.parse(await response.json())
    expect(body).toMatchObject({
      target: 'default',
      user: 'alice@example.com',
      password: minted.default.password,
      port: 5432,
      database: 'databricks_postgres',
      ssl: 'require',
      stale: false,
      expiresAt: minted.default.expiresAt.toISOString(),
    })
    expect(Date.parse(body.refreshAt)).toBeLessThan(Date.parse(body.expiresAt))
  })

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', bearer('not-the-token-at-all-0000')],
    ['a token with a different length', bearer('x')],
    ['Basic instead of Bearer', { authorization: `Basic ${ADMIN}` }],
  ])('refuses %s with 401 BROKER_UNAUTHORIZED', async (_name, headers) => {
    const { request, warm } = setup()
    await warm()
    const response = await request('/v1/credentials', headers)
    expect(response.status).toBe(401)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await errorCode(response)).toBe('BROKER_UNAUTHORIZED')
  })

  it('refuses a token for another target with 403 BROKER_FORBIDDEN, and allows its own', async () => {
    const { request, warm } = setup()
    await warm()
    await flush()
    const denied = await request('/v1/credentials/default', bearer(REPORTS))
    expect(denied.status).toBe(403)
    expect(await errorCode(denied)).toBe('BROKER_FORBIDDEN')
    const allowed = await request('/v1/credentials/reporting', bearer(REPORTS))
    expect(allowed.status).toBe(200)
    expect(((await allowed.json()) as { target: string }).target).toBe('reporting')
  })

  it('answers 404 UNKNOWN_TARGET for a target that does not exist', async () => {
    const { request } = setup()
    const response = await request('/v1/credentials/nope', bearer(ADMIN))
    expect(response.status).toBe(404)
    expect(await errorCode(response)).toBe('UNKNOWN_TARGET')
  })

  it.each([
    ['a request carrying X-Forwarded-For', { 'x-forwarded-for': '10.0.0.1' }],
    ['a request carrying Forwarded', { forwarded: 'for=10.0.0.1' }],
    ['a foreign Host (DNS rebinding)', { host: 'evil.example.com' }],
    ['a foreign Host with a loopback port', { host: 'attacker.test:8990' }],
    ['a cross-origin browser request', { origin: 'https://evil.example.com' }],
    ['a cross-site fetch', { 'sec-fetch-site': 'cross-site' }],
  ])('refuses %s with 403 BROKER_FORBIDDEN, even with a valid token', async (_name, headers) => {
    const { request, warm } = setup()
    await warm()
    const response = await request('/v1/credentials', { ...bearer(ADMIN), ...headers })
    expect(response.status).toBe(403)
    expect(await errorCode(response)).toBe('BROKER_FORBIDDEN')
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })

  it.each(['localhost:8990', '[::1]:8990', '127.0.0.1', 'broker.internal:8990'])(
    'accepts the Host %s',
    async (host) => {
      const { request, warm } = setup()
      await warm()
      await flush()
      expect((await request('/v1/credentials', { ...bearer(ADMIN), host })).status).toBe(200)
    },
  )

  it('answers 503 CREDENTIAL_UNAVAILABLE with retry_after and the upstream code when it has none', async () => {
    const { request, providers } = setup()
    const pending = request('/v1/credentials', bearer(ADMIN))
    await flush()
    providers.default.fail(
      new ProviderError('forbidden', 'the workspace refused: PERMISSION_DENIED', {
        upstreamStatus: 403,
        upstreamErrorCode: 'PERMISSION_DENIED',
      }),
    )
    const response = await pending
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('10')
    const body = (await response.json()) as { detail: Record<string, unknown> }
    expect(body.detail).toMatchObject({
      error_code: 'CREDENTIAL_UNAVAILABLE',
      retry_after: 10,
      technical_details: {
        upstream_status: 403,
        upstream_error_code: 'PERMISSION_DENIED',
        error_class: 'forbidden',
      },
    })
  })

  it('says stale: true while serving the last good credential after a failed refresh', async () => {
    const { request, warm, clock, providers } = setup()
    const minted = await warm()
    await clock.advance(HOUR / 2)
    providers.default.fail(
      new ProviderError('upstream_5xx', 'the workspace answered 500', { upstreamStatus: 500 }),
    )
    await flush()
    const response = await request('/v1/credentials', bearer(ADMIN))
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ stale: true, password: minted.default.password })
    const ready = await request('/readyz')
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({
      targets: [
        {
          target: 'default',
          stale: true,
          last_error: { error_class: 'upstream_5xx', upstream_status: 500 },
        },
        {},
      ],
    })
  })

  it('is ready only once every target holds a valid credential, and not while draining', async () => {
    const { request, warm, drain } = setup()
    expect((await request('/readyz')).status).toBe(503)
    await warm()
    await flush()
    expect((await request('/readyz')).status).toBe(200)
    drain()
    const draining = await request('/readyz')
    expect(draining.status).toBe(503)
    expect(await draining.json()).toMatchObject({ draining: true, ready: false })
  })

  it('serves health and metrics without a token, and neither reveals a secret', async () => {
    const { request, warm, logs } = setup()
    const minted = await warm()
    await flush()
    await request('/v1/credentials', bearer(ADMIN))
    const health = await request('/healthz')
    expect(health.status).toBe(200)
    const metrics = await request('/metrics')
    expect(metrics.status).toBe(200)
    const text = await metrics.text()
    expect(text).toContain('lakebase_broker_credential_expiry_seconds{target="default"} 3600')
    expect(text).toContain(
      'lakebase_broker_requests_total{caller="admin",target="default",status="200"} 1',
    )
    expect(text).toContain(
      'lakebase_broker_refreshes_total{target="default",outcome="success",error_class=""} 1',
    )
    const ready = await (await request('/readyz')).text()
    for (const secret of [minted.default.password, minted.reporting.password, ADMIN, REPORTS]) {
      expect(text).not.toContain(secret)
      expect(ready).not.toContain(secret)
      expect(logs.text()).not.toContain(secret)
    }
  })

  it('answers unknown routes with the contract error body', async () => {
    const { request } = setup()
    const response = await request('/v2/anything')
    expect(response.status).toBe(404)
    expect(await errorCode(response)).toBe('NOT_FOUND')
  })
})
