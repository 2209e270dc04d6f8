import { decodeJwt } from 'jose'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../testing/manual-clock.js'
import { onUnhandled } from '../../../testing/unhandled.js'
import { freePort } from '../../support/free-port.js'
import { createMockWorkspace } from './index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function bearer(token: string) {
  return { headers: { Authorization: `Bearer ${token}` } }
}

describe('createMockWorkspace', () => {
  it('mints real JWTs whose sub and exp follow the identity, lifetime and injected clock', async () => {
    const clock = new ManualClock()
    const ws = createMockWorkspace({
      now: () => clock.now(),
      identity: 'carol@example.com',
      tokenLifetimeS: 20,
    })
    server.use(...ws.handlers)
    const response = await fetch(`${ws.host}/api/2.0/database/credentials`, {
      method: 'POST',
      ...bearer(ws.pat),
      body: JSON.stringify({ instance_names: [ws.instanceName], request_id: crypto.randomUUID() }),
    })
    const body = (await response.json()) as { token: string; expiration_time: string }
    const claims = decodeJwt(body.token)
    expect(claims.sub).toBe('carol@example.com')
    expect(claims.exp).toBe(clock.now() / 1000 + 20)
    expect(body.expiration_time).toBe(new Date(clock.now() + 20_000).toISOString())
    expect(ws.minted).toEqual([body.token])
    expect(ws.calls.databaseCredentials).toBe(1)
  })

  it('calls onCredentialMinted before answering', async () => {
    const seen: Array<{ token: string; user: string }> = []
    const ws = createMockWorkspace({
      onCredentialMinted: async (token, _expiresAt, user) => {
        seen.push({ token, user })
      },
    })
    server.use(...ws.handlers)
    const response = await fetch(`${ws.host}/api/2.0/postgres/credentials`, {
      method: 'POST',
      ...bearer(ws.pat),
      body: JSON.stringify({ endpoint: ws.endpointName }),
    })
    const body = (await response.json()) as { token: string; expire_time: string }
    expect(seen).toEqual([{ token: body.token, user: ws.identity }])
  })

  it('refuses a wrong bearer token with 401 UNAUTHENTICATED', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    const response = await fetch(`${ws.host}/api/2.0/preview/scim/v2/Me`, bearer('dapi-wrong'))
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error_code: 'UNAUTHENTICATED' })
  })

  it('refuses an OAuth token once the injected clock passes its expiry', async () => {
    const clock = new ManualClock()
    const ws = createMockWorkspace({ now: () => clock.now(), workspaceTokenLifetimeS: 60 })
    server.use(...ws.handlers)
    const basic = Buffer.from(`${ws.clientId}:${ws.clientSecret}`).toString('base64')
    const tokenResponse = await fetch(`${ws.host}/oidc/v1/token`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${basic}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=all-apis',
    })
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string }
    expect((await fetch(`${ws.host}/api/2.0/preview/scim/v2/Me`, bearer(token))).status).toBe(200)
    await clock.advance(60_000)
    expect((await fetch(`${ws.host}/api/2.0/preview/scim/v2/Me`, bearer(token))).status).toBe(401)
  })

  it('answers a wrong client secret with 401 invalid_client', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    const basic = Buffer.from(`${ws.clientId}:nope`).toString('base64')
    const response = await fetch(`${ws.host}/oidc/v1/token`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${basic}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=all-apis',
    })
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('pages the instance list with page_size and next_page_token', async () => {
    const ws = createMockWorkspace({ instances: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] })
    server.use(...ws.handlers)
    const names: string[] = []
    let pageToken: string | undefined
    do {
      const query = `page_size=2${pageToken === undefined ? '' : `&page_token=${pageToken}`}`
      const response = await fetch(`${ws.host}/api/2.0/database/instances?${query}`, bearer(ws.pat))
      const page = (await response.json()) as {
        database_instances: Array<{ name: string }>
        next_page_token?: string
      }
      names.push(...page.database_instances.map((i) => i.name))
      pageToken = page.next_page_token
    } while (pageToken !== undefined)
    expect(names).toEqual(['a', 'b', 'c'])
    expect(ws.calls.listInstances).toBe(2)
  })

  it('uses scripted steps in order, then answers normally again', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    ws.script('getInstance', { status: 429, retryAfter: 7 }, { status: 503 })
    const url = `${ws.host}/api/2.0/database/instances/${ws.instanceName}`
    const first = await fetch(url, bearer(ws.pat))
    expect(first.status).toBe(429)
    expect(first.headers.get('retry-after')).toBe('7')
    expect(await first.json()).toEqual({
      error_code: 'REQUEST_LIMIT_EXCEEDED',
      message: 'mock workspace: HTTP 429',
    })
    expect((await fetch(url, bearer(ws.pat))).status).toBe(503)
    expect((await fetch(url, bearer(ws.pat))).status).toBe(200)
    expect(ws.pending('getInstance')).toBe(0)
    expect(ws.calls.getInstance).toBe(3)
  })

  it('serves the same handlers on a real loopback socket', async () => {
    const ws = createMockWorkspace({ host: `http://127.0.0.1:${await freePort()}` })
    const listening = await ws.listen()
    try {
      // Bypass MSW entirely: a child process would reach the socket the same way.
      const { request } = await import('node:http')
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${listening.url}/api/2.0/preview/scim/v2/Me`,
          bearer(ws.pat),
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.end()
      })
      expect(status).toBe(200)
      expect(ws.calls.scimMe).toBe(1)
    } finally {
      await listening.close()
    }
  })
})

describe('createMockWorkspace Autoscaling claims and ttl', () => {
  const ask = (ws: ReturnType<typeof createMockWorkspace>, extra: Record<string, unknown>) =>
    fetch(`${ws.host}/api/2.0/postgres/credentials`, {
      method: 'POST',
      ...bearer(ws.pat),
      body: JSON.stringify({ endpoint: ws.endpointName, ...extra }),
    })

  it('mints for the ttl asked and records it with the claims', async () => {
    const clock = new ManualClock()
    const ws = createMockWorkspace({ now: () => clock.now() })
    server.use(...ws.handlers)
    const claims = [{ permission_set: 'READ_ONLY', resources: [{ table_name: 'a.b.c' }] }]
    const response = await ask(ws, { ttl: '300s', claims })
    const body = (await response.json()) as { expire_time: string }
    expect(body.expire_time).toBe(new Date(clock.now() + 300_000).toISOString())
    expect(ws.credentials[0]).toMatchObject({ ttlS: 300, claims })
  })

  it.each([['299s'], ['3601s'], [600], ['10m']])(
    'answers 400 INVALID_PARAMETER_VALUE for ttl %s, as Autoscaling does',
    async (ttl) => {
      const ws = createMockWorkspace()
      server.use(...ws.handlers)
      const response = await ask(ws, { ttl })
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' })
      expect(ws.credentials).toEqual([])
    },
  )

  it('answers 400 for claims that are not a list of permission sets', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    expect((await ask(ws, { claims: { permission_set: 'READ_ONLY' } })).status).toBe(400)
    expect((await ask(ws, { claims: [{ resources: [] }] })).status).toBe(400)
  })
})

describe('createMockWorkspace fault steps', () => {
  const post = (ws: ReturnType<typeof createMockWorkspace>) =>
    fetch(`${ws.host}/api/2.0/database/credentials`, {
      method: 'POST',
      ...bearer(ws.pat),
      body: JSON.stringify({ instance_names: [ws.instanceName], request_id: crypto.randomUUID() }),
    })

  it('answers every call with an outage step until it is unscripted', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    ws.outage('databaseCredentials', { status: 503 })
    expect((await post(ws)).status).toBe(503)
    expect((await post(ws)).status).toBe(503)
    ws.unscript('databaseCredentials')
    expect((await post(ws)).status).toBe(200)
  })

  it('cuts JSON short, or leaves a field out, on a 200', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    ws.script('databaseCredentials', { truncatedJson: true }, { omitFields: ['token'] })
    const cut = await post(ws)
    expect(cut.status).toBe(200)
    await expect(cut.json()).rejects.toThrow()
    const partial = (await (await post(ws)).json()) as Record<string, unknown>
    expect(partial).not.toHaveProperty('token')
    expect(partial).toHaveProperty('expiration_time')
  })

  it('holds an answer for latency on the injected clock', async () => {
    const clock = new ManualClock()
    const ws = createMockWorkspace({ now: () => clock.now(), sleep: (ms) => clock.sleep(ms) })
    server.use(...ws.handlers)
    ws.script('databaseCredentials', { delayMs: 30_000 })
    let answered = false
    const pending = post(ws).then((r) => {
      answered = true
      return r.status
    })
    while (clock.pendingTimers() === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    await clock.advance(29_999)
    expect(answered).toBe(false)
    await clock.advance(1)
    expect(await pending).toBe(200)
  })

  it('drops the connection of a networkError step on the loopback server too', async () => {
    const ws = createMockWorkspace({ host: `http://127.0.0.1:${await freePort()}` })
    const listening = await ws.listen()
    try {
      ws.script('scimMe', { networkError: true })
      const { request } = await import('node:http')
      const outcome = await new Promise<string>((resolve) => {
        const req = request(`${listening.url}/api/2.0/preview/scim/v2/Me`, bearer(ws.pat), (res) =>
          resolve(`status ${res.statusCode}`),
        )
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
        req.end()
      })
      expect(outcome).toBe('ECONNRESET')
    } finally {
      await listening.close()
    }
  })
})
