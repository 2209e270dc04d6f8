import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { oauthM2mTokenSource } from '../../../../shared/databricks/auth/oauth-m2m.js'
import { UpstreamError } from '../../../../shared/databricks/upstream-error.js'
import { ManualClock } from '../../../../testing/manual-clock.js'
import { onUnhandled } from '../../../../testing/unhandled.js'
import { deferred } from '../../../support/deferred.js'
import { errorText } from '../../../support/error-text.js'
import { createMockWorkspace, type MockWorkspace } from '../../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

let clock: ManualClock
let ws: MockWorkspace
const signal = new AbortController().signal

beforeEach(() => {
  clock = new ManualClock()
  ws = createMockWorkspace({ now: () => clock.now(), workspaceTokenLifetimeS: 1800 })
  server.use(...ws.handlers)
})

function source(clientSecret = ws.clientSecret) {
  return oauthM2mTokenSource({ host: ws.host, clientId: ws.clientId, clientSecret }, { clock })
}

describe('oauthM2mTokenSource', () => {
  it('discovers the token endpoint, then gets a token with client credentials', async () => {
    const token = await source()(signal)
    expect(ws.calls.oidcDiscovery).toBe(1)
    expect(ws.calls.oidcToken).toBe(1)
    expect(token.accessToken).toBe(ws.minted[0])
    expect(token.expiresAt).toEqual(new Date(clock.now() + 1800 * 1000))
  })

  it('sends Basic client authentication and grant_type=client_credentials&scope=all-apis', async () => {
    await source()(signal)
    const request = ws.requests.find((r) => r.route === 'oidcToken')
    const basic = Buffer.from(`${ws.clientId}:${ws.clientSecret}`).toString('base64')
    expect(request?.authorization).toBe(`Basic ${basic}`)
    expect(request?.body).toBe('grant_type=client_credentials&scope=all-apis')
    expect(ws.requests.find((r) => r.route === 'oidcDiscovery')?.authorization).toBeNull()
  })

  it('yields a token the workspace accepts as the service principal', async () => {
    const token = await source()(signal)
    const me = await fetch(`${ws.host}/api/2.0/preview/scim/v2/Me`, {
      headers: { Authorization: `Bearer ${token.accessToken}` },
    })
    expect(((await me.json()) as { userName: string }).userName).toBe(ws.clientId)
  })

  it('reports a wrong secret as permanent unauthorized with the upstream invalid_client', async () => {
    const err = await source('dose-wrong-secret-0123456789')(signal).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UpstreamError)
    expect(err).toMatchObject({
      errorClass: 'unauthorized',
      kind: 'permanent',
      upstreamStatus: 401,
      upstreamErrorCode: 'invalid_client',
      message:
        'the OAuth M2M token request failed with HTTP 401 invalid_client: Client authentication failed',
    })
    expect(errorText(err)).not.toContain('dose-wrong-secret-0123456789')
    expect(errorText(err)).not.toContain(ws.clientSecret)
  })

  it('measures the expiry from when the token was requested, not from when it arrived', async () => {
    const requestedAt = clock.now()
    const answer = deferred<void>()
    ws.script('oidcToken', { lifetimeS: 60, until: answer.promise })
    const pending = source()(signal)
    await vi.waitFor(() => expect(ws.calls.oidcToken).toBe(1))
    await clock.advance(5_000)
    answer.resolve()
    expect((await pending).expiresAt.getTime()).toBe(requestedAt + 60_000)
  })

  it('reports a token answer without expires_in as malformed', async () => {
    ws.script('oidcToken', { body: { access_token: 'abc', token_type: 'Bearer' } })
    await expect(source()(signal)).rejects.toMatchObject({
      errorClass: 'malformed_response',
      message: 'the OAuth M2M token request answered without the expected fields: expires_in',
    })
  })

  it('reports a failed discovery with its status', async () => {
    ws.script('oidcDiscovery', { status: 503, retryAfter: 5 })
    await expect(source()(signal)).rejects.toMatchObject({
      errorClass: 'upstream_5xx',
      retryAfterMs: 5_000,
    })
    expect(ws.calls.oidcToken).toBe(0)
  })

  it('never sends the client secret to a token endpoint on another host', async () => {
    server.use(
      http.get(`${ws.host}/oidc/.well-known/oauth-authorization-server`, () =>
        HttpResponse.json({ token_endpoint: 'https://attacker.test/oidc/v1/token' }),
      ),
    )
    const err = await source()(signal).catch((e: unknown) => e)
    expect(err).toMatchObject({ errorClass: 'malformed_response' })
    expect((err as Error).message).toMatch(/token endpoint on another host \(attacker\.test\)/)
  })
})
