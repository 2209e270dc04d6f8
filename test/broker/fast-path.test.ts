import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { CredentialCache } from '../../broker/credential-cache.js'
import { CredentialEndpoint } from '../../broker/credential-endpoint.js'
import { credentialFastPath, installFastPath } from '../../broker/fast-path.js'
import { BrokerMetrics } from '../../broker/metrics.js'
import { ClientTable } from '../../broker/middleware/client-auth.js'
import { guard } from '../../broker/middleware/request-guard.js'
import { DEFAULT_REFRESH_POLICY } from '../../broker/refresh-schedule.js'
import { flush, ManualClock } from '../../testing/manual-clock.js'
import { ScriptedProvider } from '../support/scripted-provider.js'

/**
 * The node:http fast path answers only the cache hits it is sure of; every other request reaches
 * the listener behind it (Hono, in the broker) untouched, which then decides.
 */
const ADMIN = 'fast-admin-client-token-0123456789'
const REPORTS = 'fast-reports-client-token-0123456789'
const clients: ClientConfig[] = [
  { name: 'admin', token: ADMIN, targets: '*' },
  { name: 'reports', token: REPORTS, targets: ['reporting'] },
]

let server: Server
let port: number
let behind = 0
let metrics: BrokerMetrics
const caches = new Map<string, CredentialCache>()
const clock = new ManualClock(Date.now())
const providers = { default: new ScriptedProvider(clock), cold: new ScriptedProvider(clock) }

beforeAll(async () => {
  metrics = new BrokerMetrics(() => [])
  for (const [target, provider] of Object.entries(providers)) {
    const cache = new CredentialCache({ target, provider, policy: DEFAULT_REFRESH_POLICY, clock })
    caches.set(target, cache)
    cache.start()
  }
  await flush()
  providers.default.succeed(3600_000)
  await flush()
  const endpoint = new CredentialEndpoint(caches, new ClientTable(clients), metrics, () =>
    clock.now(),
  )
  server = createServer((_req, res) => {
    behind += 1
    res.writeHead(599).end()
  })
  installFastPath(server, credentialFastPath(endpoint, guard({ allowedHosts: [] })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})
afterAll(async () => {
  for (const cache of caches.values()) cache.stop()
  await new Promise((resolve) => server.close(resolve))
})

function send(path: string, headers: Array<[string, string]>, method = 'GET') {
  return new Promise<{ status: number; body: string; handledBehind: boolean }>(
    (resolve, reject) => {
      const before = behind
      const req = httpRequest(
        { host: '127.0.0.1', port, path, method, headers: headers.flat(), setHost: false },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => {
            body += c
          })
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, handledBehind: behind > before }),
          )
        },
      )
      req.on('error', reject)
      req.end()
    },
  )
}

const host: [string, string] = ['Host', '127.0.0.1:8990']
const auth = (token: string): [string, string] => ['Authorization', `Bearer ${token}`]

describe('the broker’s node:http fast path', () => {
  it('answers a cache hit itself, with the credential, no-store, and counts it', async () => {
    for (const path of ['/v1/credentials', '/v1/credentials/default']) {
      const answer = await send(path, [host, auth(ADMIN)])
      expect(answer.handledBehind).toBe(false)
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body)).toMatchObject({ target: 'default', password: 'password-1' })
    }
    expect(
      await metrics.registry.getSingleMetricAsString('lakebase_broker_requests_total'),
    ).toContain('lakebase_broker_requests_total{caller="admin",target="default",status="200"} 2')
  })

  it.each<[string, string, Array<[string, string]>, string?]>([
    ['no token', '/v1/credentials', [host]],
    ['a wrong token', '/v1/credentials', [host, auth('wrong-token-0000000000000')]],
    ['a token for another target', '/v1/credentials', [host, auth(REPORTS)]],
    ['a foreign Host', '/v1/credentials', [['Host', 'evil.example.com'], auth(ADMIN)]],
    ['two Host headers', '/v1/credentials', [host, ['Host', 'evil.example.com'], auth(ADMIN)]],
    ['two tokens', '/v1/credentials', [host, auth(ADMIN), auth(REPORTS)]],
    ['X-Forwarded-For', '/v1/credentials', [host, auth(ADMIN), ['X-Forwarded-For', '10.0.0.1']]],
    ['Forwarded', '/v1/credentials', [host, auth(ADMIN), ['Forwarded', 'for=10.0.0.1']]],
    [
      'a cross-site fetch',
      '/v1/credentials',
      [host, auth(ADMIN), ['Sec-Fetch-Site', 'cross-site']],
    ],
    ['a foreign Origin', '/v1/credentials', [host, auth(ADMIN), ['Origin', 'https://evil.test']]],
    [
      'two Origins',
      '/v1/credentials',
      [host, auth(ADMIN), ['Origin', 'http://localhost'], ['Origin', 'x']],
    ],
    ['a query string', '/v1/credentials?x=1', [host, auth(ADMIN)]],
    ['an encoded target', '/v1/credentials/%64efault', [host, auth(ADMIN)]],
    ['an unknown target', '/v1/credentials/nope', [host, auth(ADMIN)]],
    ['a target with no credential yet', '/v1/credentials/cold', [host, auth(ADMIN)]],
    ['a trailing slash', '/v1/credentials/', [host, auth(ADMIN)]],
    ['a POST', '/v1/credentials', [host, auth(ADMIN)], 'POST'],
    ['a HEAD', '/v1/credentials', [host, auth(ADMIN)], 'HEAD'],
  ])('leaves %s to the full route', async (_name, path, headers, method) => {
    const answer = await send(path, headers, method)
    expect(answer.handledBehind).toBe(true)
    expect(answer.status).toBe(599)
  })

  it('accepts header names in any case, as HTTP says', async () => {
    const answer = await send('/v1/credentials', [
      ['HOST', 'localhost:8990'],
      ['AUTHORIZATION', `bearer ${ADMIN}`],
    ])
    expect(answer.handledBehind).toBe(false)
    expect(answer.status).toBe(200)
  })
})
