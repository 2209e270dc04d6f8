import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listen, type RunningServer } from '../../shared/process/http-server.js'
import { TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'
import { countFromEnv, recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * A hostile mix over real HTTP through Node's fetch (undici, which reuses connections), 8 at a
 * time, at the functions and the broker: small GETs and OPTIONS between bodies over the limit,
 * malformed JSON, wrong tokens. Every request must get an HTTP answer: a request that fails at
 * the socket level (`UND_ERR_SOCKET`, "other side closed") is what an early 413 that closes a
 * reused connection does to its neighbours. None may get a 5xx.
 */
const REQUESTS = countFromEnv('RELIABILITY_HOSTILE_REQUESTS', 3_000, 400)
const CONCURRENCY = 8
const KB = 1024

const secrets = trackSecrets('hostile-mix')
let stack: FunctionsStack
let functions: RunningServer

beforeAll(async () => {
  stack = await startFunctionsStack()
  functions = await listen(stack.app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  secrets.secret('the Postgres password', 'test-superuser-password')
  secrets.output('functions logs', stack.logs.text)
})
afterAll(async () => {
  await functions?.close()
  await stack?.close()
})

interface Shot {
  name: string
  url: string
  init: RequestInit
}

function shots(): Shot[] {
  const fn = functions.url
  const broker = stack.broker.url
  const user = { 'x-forwarded-email': 'hostile@example.com', 'content-type': 'application/json' }
  const big = (bytes: number) => JSON.stringify({ preference_value: { x: 'x'.repeat(bytes) } })
  const bearer = { authorization: `Bearer ${TEST_CLIENT_TOKEN}` }
  return [
    { name: 'GET preferences', url: `${fn}/api/preferences`, init: { headers: user } },
    { name: 'OPTIONS', url: `${fn}/api/preferences`, init: { method: 'OPTIONS', headers: user } },
    { name: 'GET health', url: `${fn}/api/health`, init: {} },
    {
      name: 'PUT 111 KB',
      url: `${fn}/api/preferences/theme`,
      init: { method: 'PUT', headers: user, body: big(111 * KB) },
    },
    {
      name: 'PUT 1 MB',
      url: `${fn}/api/preferences/theme`,
      init: { method: 'PUT', headers: user, body: big(1024 * KB) },
    },
    {
      name: 'PUT bad JSON',
      url: `${fn}/api/preferences/theme`,
      init: { method: 'PUT', headers: user, body: '{"preference_value":' },
    },
    {
      name: 'POST text/plain',
      url: `${fn}/api/inference-logs`,
      init: { method: 'POST', headers: { ...user, 'content-type': 'text/plain' }, body: 'x' },
    },
    { name: 'broker GET', url: `${broker}/v1/credentials`, init: { headers: bearer } },
    {
      name: 'broker wrong token',
      url: `${broker}/v1/credentials`,
      init: { headers: { authorization: 'Bearer wrong-token-000000000000' } },
    },
    {
      name: 'broker refresh 64 KB',
      url: `${broker}/v1/credentials/default/refresh`,
      init: {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/json' },
        body: JSON.stringify({ refused: 'v'.repeat(64 * KB) }),
      },
    },
    {
      name: 'broker refresh bad JSON',
      url: `${broker}/v1/credentials/default/refresh`,
      init: {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/json' },
        body: '{',
      },
    },
  ]
}

describe('a hostile mix over real HTTP, 8 at a time', () => {
  it(`answers ${REQUESTS} requests over reused connections with no socket error and no 5xx`, async () => {
    const mix = shots()
    const socketErrors: Record<string, number> = {}
    const byStatus: Record<string, number> = {}
    let fiveXx = 0
    let next = 0
    const worker = async () => {
      for (let i = next++; i < REQUESTS; i = next++) {
        const shot = mix[i % mix.length] as Shot
        try {
          const response = await fetch(shot.url, shot.init)
          const text = await response.text()
          byStatus[response.status] = (byStatus[response.status] ?? 0) + 1
          if (response.status >= 500) fiveXx += 1
          if (response.status >= 400) secrets.output(`${shot.name} ${response.status}`, text)
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code ?? String(err)
          const key = `${shot.name}: ${code}`
          socketErrors[key] = (socketErrors[key] ?? 0) + 1
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const sockets = Object.values(socketErrors).reduce((a, b) => a + b, 0)
    recordFigures('hostile-mix', {
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      socketErrors: sockets,
      socketErrorsByShot: socketErrors,
      fiveXx,
      byStatus,
    })
    expect(fiveXx).toBe(0)
    expect(socketErrors).toEqual({})
  }, 300_000)
})
