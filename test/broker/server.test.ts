import { describe, expect, it } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { DEFAULT_FORCED_REFRESH_MIN_MS } from '../../broker/credential-cache.js'
import { REFUSAL_BODY_MAX_BYTES } from '../../broker/server.js'
import { servedCredentialSchema } from '../../shared/client/credential.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
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
      new UpstreamError('forbidden', 'the workspace refused: PERMISSION_DENIED', {
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
      new UpstreamError('upstream_5xx', 'the workspace answered 500', { upstreamStatus: 500 }),
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

  it('counts requests for names no target has under one label, however many names', async () => {
    const { request, warm } = setup()
    await warm()
    for (let i = 0; i < 20; i++) {
      expect((await request(`/v1/credentials/nope-${i}`, bearer(ADMIN))).status).toBe(404)
    }
    const text = await (await request('/metrics')).text()
    expect(text).toContain(
      'lakebase_broker_requests_total{caller="admin",target="(unknown)",status="404"} 20',
    )
    expect(text).not.toMatch(/target="nope-/)
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

describe('a client reporting a refused credential', () => {
  const post = (app: ReturnType<typeof setup>['app'], path: string, body: string, headers = {}) =>
    app.request(`http://127.0.0.1:8990${path}`, {
      method: 'POST',
      headers: {
        host: '127.0.0.1:8990',
        'content-type': 'application/json',
        ...bearer(ADMIN),
        ...headers,
      },
      body,
    })
  const refused = (version: string) => JSON.stringify({ refused: version })

  async function warmed() {
    const s = setup()
    const minted = await s.warm()
    await flush()
    const first = servedCredentialSchema.parse(
      await (await s.request('/v1/credentials', bearer(ADMIN))).json(),
    )
    return { ...s, minted, first }
  }

  it('gets a newly minted credential with a new version, in one round trip', async () => {
    const { app, providers, first, minted } = await warmed()
    expect(first.password).toBe(minted.default.password)
    const calls = providers.default.calls
    const pending = post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    expect(providers.default.calls).toBe(calls + 1)
    const next = providers.default.succeed(HOUR)
    const response = await pending
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = servedCredentialSchema.parse(await response.json())
    expect(body.password).toBe(next.password)
    expect(body.version).not.toBe(first.version)
  })

  it('mints once for a crowd reporting the same version at the same time', async () => {
    const { app, providers, first } = await warmed()
    const calls = providers.default.calls
    const answers = Array.from({ length: 20 }, () =>
      post(app, '/v1/credentials/default/refresh', refused(first.version)),
    )
    await flush()
    expect(providers.default.calls).toBe(calls + 1)
    const next = providers.default.succeed(HOUR)
    for (const response of await Promise.all(answers)) {
      expect(response.status).toBe(200)
      expect(((await response.json()) as { password: string }).password).toBe(next.password)
    }
  })

  it('answers the current credential, without minting, for a version already replaced', async () => {
    const { app, providers, first } = await warmed()
    const pending = post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    const next = providers.default.succeed(HOUR)
    await pending
    const calls = providers.default.calls
    const late = await post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    expect(providers.default.calls).toBe(calls)
    expect(late.status).toBe(200)
    expect(((await late.json()) as { password: string }).password).toBe(next.password)
  })

  it('forces at most one refresh per BROKER_FORCED_REFRESH_MIN_S, then one more after it', async () => {
    const { app, providers, first, clock } = await warmed()
    const firstReport = post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    const second = providers.default.succeed(HOUR)
    const secondVersion = ((await (await firstReport).json()) as { version: string }).version
    const calls = providers.default.calls

    // Inside the window: the same credential (the report may be of an older password), and when
    // a report can mint a new one.
    await clock.advance(DEFAULT_FORCED_REFRESH_MIN_MS - 1_500)
    const limited = await post(app, '/v1/credentials/default/refresh', refused(secondVersion))
    expect(providers.default.calls).toBe(calls)
    expect(limited.status).toBe(200)
    expect(await limited.json()).toMatchObject({
      password: second.password,
      version: secondVersion,
      retryAfter: 2,
    })
    // A plain read, and a report of a credential already replaced, carry no such hint.
    const replaced = await post(app, '/v1/credentials/default/refresh', refused(first.version))
    expect(await replaced.json()).not.toHaveProperty('retryAfter')

    await clock.advance(1_499)
    await clock.advance(1)
    const pending = post(app, '/v1/credentials/default/refresh', refused(secondVersion))
    await flush()
    expect(providers.default.calls).toBe(calls + 1)
    const third = providers.default.succeed(HOUR)
    expect(await (await pending).json()).toMatchObject({ password: third.password })
  })

  it('does not override an upstream Retry-After: it answers what it holds, and when to come back', async () => {
    const { app, providers, first, clock } = await warmed()
    await clock.advance(HOUR / 2)
    providers.default.fail(
      new UpstreamError('rate_limited', 'the workspace answered 429', {
        upstreamStatus: 429,
        retryAfterMs: 60_000,
      }),
    )
    await flush()
    const calls = providers.default.calls
    const response = await post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    expect(providers.default.calls).toBe(calls)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      password: first.password,
      stale: true,
      retryAfter: 60,
    })
  })

  it('counts forced refreshes in the metrics and on the status page', async () => {
    const { app, providers, first, request } = await warmed()
    const pending = post(app, '/v1/credentials/default/refresh', refused(first.version))
    await flush()
    providers.default.succeed(HOUR)
    await pending
    await post(app, '/v1/credentials/default/refresh', refused(first.version))
    const metrics = await (await request('/metrics')).text()
    expect(metrics).toContain('lakebase_broker_forced_refreshes_total{target="default"} 1')
    expect(metrics).toContain(
      'lakebase_broker_refusals_reported_total{target="default",outcome="refreshed"} 1',
    )
    expect(metrics).toContain(
      'lakebase_broker_refusals_reported_total{target="default",outcome="already_replaced"} 1',
    )
    const status = (await (await request('/status.json')).json()) as {
      targets: Array<{ target: string; forced_refreshes: number }>
    }
    expect(status.targets.find((t) => t.target === 'default')?.forced_refreshes).toBe(1)
    const page = await (await request('/')).text()
    expect(page).toMatch(/data-field="forced_refreshes">1, last /)
  })

  it.each([
    ['no body', ''],
    ['a body that is not JSON', '{"refused":'],
    ['a JSON array', '["v1"]'],
    ['no refused field', '{}'],
    ['a number for refused', '{"refused":1}'],
    ['an empty refused', '{"refused":""}'],
    ['an unknown field', '{"refused":"v1","also":true}'],
  ])('answers %s with 400 INVALID_REQUEST and the field errors', async (_name, body) => {
    const { app } = await warmed()
    const response = await post(app, '/v1/credentials/default/refresh', body)
    expect(response.status).toBe(400)
    const detail = ((await response.json()) as { detail: Record<string, unknown> }).detail
    expect(detail.error_code).toBe('INVALID_REQUEST')
    expect(detail.technical_details).toMatchObject({ errors: expect.any(Array) })
  })

  it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const { app } = await warmed()
    const response = await post(
      app,
      '/v1/credentials/default/refresh',
      refused('x'.repeat(REFUSAL_BODY_MAX_BYTES)),
    )
    expect(response.status).toBe(413)
    expect(await errorCode(response)).toBe('PAYLOAD_TOO_LARGE')
  })

  it.each([
    ['no token', { authorization: '' }, 401, 'BROKER_UNAUTHORIZED'],
    ['a token for another target', bearer(REPORTS), 403, 'BROKER_FORBIDDEN'],
    ['X-Forwarded-For', { 'x-forwarded-for': '10.0.0.1' }, 403, 'BROKER_FORBIDDEN'],
    ['a foreign Host', { host: 'evil.example.com' }, 403, 'BROKER_FORBIDDEN'],
    ['a cross-origin Origin', { origin: 'https://evil.example.com' }, 403, 'BROKER_FORBIDDEN'],
  ])('refuses %s as GET does, and mints nothing', async (_name, headers, status, code) => {
    const { app, providers, first } = await warmed()
    const calls = providers.default.calls
    const response = await post(
      app,
      '/v1/credentials/default/refresh',
      refused(first.version),
      headers,
    )
    expect(response.status).toBe(status)
    expect(await errorCode(response)).toBe(code)
    await flush()
    expect(providers.default.calls).toBe(calls)
  })

  it('answers 404 UNKNOWN_TARGET for a target that does not exist', async () => {
    const { app } = await warmed()
    const response = await post(app, '/v1/credentials/nope/refresh', refused('v'))
    expect(response.status).toBe(404)
    expect(await errorCode(response)).toBe('UNKNOWN_TARGET')
  })
})

describe('the broker listening beyond loopback', () => {
  it('asks a client token for the status page, /status.json and /metrics, and says only ready or not on /readyz', async () => {
    const { request, warm } = brokerApp({ clients, openStatus: false })
    await warm()
    await flush()
    for (const path of ['/', '/status.json', '/metrics']) {
      const refused = await request(path)
      expect(refused.status, path).toBe(401)
      expect(await errorCode(refused)).toBe('BROKER_UNAUTHORIZED')
      expect((await request(path, bearer(ADMIN))).status, path).toBe(200)
    }
    expect((await request('/healthz')).status).toBe(200)
    const ready = await request('/readyz')
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ ready: true })
  })

  it('keeps them open on loopback, as before', async () => {
    const { request, warm } = brokerApp({ clients })
    await warm()
    await flush()
    for (const path of ['/', '/status.json', '/metrics']) {
      expect((await request(path)).status, path).toBe(200)
    }
    expect(Object.keys((await (await request('/readyz')).json()) as object)).toEqual([
      'ready',
      'draining',
      'targets',
    ])
  })
})
