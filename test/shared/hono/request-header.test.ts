import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeHeaders, requestHeader } from '../../../shared/hono/request-header.js'
import { listen, type RunningServer } from '../../../shared/http-server.js'
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
      return c.json({ one, missing, built, every: every['x-a'] })
    })
    server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await server?.close()
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
})
