import { connect } from 'node:net'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeHeaders, requestHeader } from '../../../shared/hono/request-header.js'
import { listen, type RunningServer } from '../../../shared/process/http-server.js'
import { type FunctionsStack, startFunctionsStack } from '../../support/functions.js'

/**
 * Whether @hono/node-server built WHATWG objects for this request: it keeps the `Headers` it
 * builds on first reading `headers` (what `c.req.header()` does) under a symbol `headersKey`,
 * and the full `Request` (for a body, a signal, …) under `requestCache`.
 */
function builtRequest(raw: Request): boolean {
  return Object.getOwnPropertySymbols(raw).some(
    (s) => s.description === 'headersKey' || s.description === 'requestCache',
  )
}

async function get(server: RunningServer, path: string, headers: [string, string][] = []) {
  return fetch(`${server.url}${path}`, { headers })
}

describe('requestHeader', () => {
  let server: RunningServer
  beforeAll(async () => {
    const app = new Hono()
    app.get('/header', (c) => {
      const name = c.req.query('name') ?? ''
      const value = requestHeader(c, name)
      return c.json({ value: value ?? null, built: builtRequest(c.req.raw) })
    })
    app.get('/both', (c) => {
      const ours = requestHeader(c, 'x-a')
      const theirs = c.req.header('x-a')
      return c.json({ ours, theirs, built: builtRequest(c.req.raw) })
    })
    app.get('/node-headers', nodeHeaders(), (c) => {
      const one = c.req.header('X-A')
      const missing = c.req.header('x-missing') ?? null
      const built = builtRequest(c.req.raw)
      const every = c.req.header()
      const empty = (c.req.header as (name: string) => Record<string, string>)('')
      return c.json({ one, missing, built, every: every['x-a'], empty: empty['x-a'] })
    })
    app.get('/compare', (c) => {
      const names = ['content-type', 'cookie', 'x-many', 'Content-Type']
      const ours = names.map((name) => requestHeader(c, name))
      return c.json({ ours, theirs: names.map((name) => c.req.header(name)) })
    })
    server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await server?.close()
  })

  it('answers what Headers.get answers for headers Node keeps one copy of (content-type, cookie)', async () => {
    // fetch would fold repeated headers into one line: a raw request sends them as two.
    const { hostname, port } = new URL(server.url)
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          'GET /compare HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n' +
            'Cookie: a=1\r\nCookie: b=2\r\nX-Many: 1\r\nX-Many: 2\r\nConnection: close\r\n\r\n',
        )
      })
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk.toString()
      })
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })
    const body = JSON.parse(head.slice(head.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>
    expect(body.ours).toEqual(body.theirs)
    expect(body.ours).toEqual(['a/b, c/d', 'a=1; b=2', '1, 2', 'a/b, c/d'])
  })

  it('reads a request the app rebuilt, or Headers it changed, as Hono does', async () => {
    const outer = rebuilding()
    const server2 = await listen(outer.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
    try {
      const answer = await get(server2, '/', [
        ['x-forwarded-email', 'mallory@example.com'],
        ['x-changed', 'before'],
      ])
      expect(await answer.json()).toEqual({ rebuilt: null, changed: 'after' })
    } finally {
      await server2.close()
    }
  })

  it("nodeHeaders() makes c.req.header(name) read Node's headers, any case; header() stays whole", async () => {
    const answer = await get(server, '/node-headers', [
      ['x-a', 'one'],
      ['X-A', 'two'],
    ])
    expect(await answer.json()).toEqual({
      one: 'one, two',
      missing: null,
      built: false,
      every: 'one, two',
      empty: 'one, two',
    })
  })

  it("reads Node's parsed headers on Node, without building WHATWG Headers", async () => {
    const answer = await get(server, '/header?name=x-forwarded-email', [
      ['X-Forwarded-Email', 'alice@example.com'],
    ])
    expect(await answer.json()).toEqual({ value: 'alice@example.com', built: false })
  })

  it('answers undefined for a header not sent', async () => {
    const answer = await get(server, '/header?name=x-missing')
    expect(await answer.json()).toEqual({ value: null, built: false })
  })

  it('answers a repeated header as Headers.get does, and the probe sees Headers built', async () => {
    const answer = await get(server, '/both', [
      ['x-a', 'one'],
      ['x-a', 'two'],
    ])
    // c.req.header() built the Headers: the probe of the tests above can tell.
    expect(await answer.json()).toEqual({ ours: 'one, two', theirs: 'one, two', built: true })
  })

  it('falls back to c.req.header where there is no Node message (app.request, a Worker)', async () => {
    const app = new Hono()
    app.get('/', (c) => c.text(requestHeader(c, 'x-a') ?? 'none'))
    expect(await (await app.request('/', { headers: { 'X-A': 'v' } })).text()).toBe('v')
    expect(await (await app.request('/')).text()).toBe('none')
  })
})

describe('the functions on Node', () => {
  let stack: FunctionsStack
  let server: RunningServer
  const seen: { path: string; built: boolean }[] = []
  beforeAll(async () => {
    stack = await startFunctionsStack()
    const outer = new Hono()
    outer.use(async (c, next) => {
      await next()
      seen.push({ path: c.req.path, built: builtRequest(c.req.raw) })
    })
    outer.route('/', stack.app)
    server = await listen(outer.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await server?.close()
    await stack?.close()
  })

  it('answer a GET without building WHATWG Headers or a Request (issue 13)', async () => {
    const headers: [string, string][] = [
      ['x-forwarded-email', 'no-request@example.com'],
      ['x-request-id', 'abc-123'],
    ]
    const list = await get(server, '/api/preferences', headers)
    expect(list.status).toBe(200)
    expect(list.headers.get('x-request-id')).toBe('abc-123')
    const missing = await get(server, '/api/preferences/theme', headers)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('x-request-id')).toBe('abc-123')
    expect(seen).toEqual([
      { path: '/api/preferences', built: false },
      { path: '/api/preferences/theme', built: false },
    ])
  })

  it('answer a write, whose body makes the adapter build its Request, as before', async () => {
    const written = await fetch(`${server.url}/api/preferences/theme`, {
      method: 'PUT',
      headers: {
        'x-forwarded-email': 'writes@example.com',
        'content-type': 'application/json',
        'x-request-id': 'put-1',
      },
      body: JSON.stringify({ preference_value: { mode: 'dark' } }),
    })
    expect(written.status).toBe(201)
    expect(written.headers.get('x-request-id')).toBe('put-1')
    expect(seen.at(-1)).toEqual({ path: '/api/preferences/theme', built: true })
  })
})

/**
 * An app that rebuilds the request without the identity header before its inner app reads it
 * (passing Node's env on), and one that changes a header in the adapter's built Headers.
 */
function rebuilding() {
  const inner = new Hono()
  inner.get('/', (c) => {
    const rebuilt = requestHeader(c, 'x-forwarded-email') ?? null
    return c.json({ rebuilt, changed: c.req.raw.headers.get('x-changed') })
  })
  const outer = new Hono<{ Bindings: Record<string, unknown> }>()
  outer.get('/', (c) => {
    c.req.raw.headers.set('x-changed', 'after')
    const changed = requestHeader(c, 'x-changed')
    const headers = new Headers(c.req.raw.headers)
    headers.delete('x-forwarded-email')
    headers.set('x-changed', changed ?? 'lost')
    return inner.fetch(new Request(c.req.url, { headers }), c.env)
  })
  return outer
}
