import { writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { startTestBroker, tempDir, waitFor } from '../support/kit.js'
import { recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * What a local credential endpoint must refuse, tried over real HTTP against a listening broker:
 * no token, a wrong one, a token for another target, a foreign Host (DNS rebinding), a request
 * relayed by a proxy (SSRF), and a browser's cross-origin request. Every one is refused with the
 * contract's error body, and none of them gets a password.
 */
const ADMIN_TOKEN = 'attack-admin-client-token-3f9a1c7e'
const REPORTS_TOKEN = 'attack-reports-client-token-8b2d4e6f'
const DEFAULT_PASSWORD = 'attack-default-pg-password-5e1b'
const REPORTING_PASSWORD = 'attack-reporting-pg-password-9c4a'

const secrets = trackSecrets('broker-attacks')
let broker: RunningBroker
let port: number
const outcomes: Array<{ attack: string; status: number; refused: boolean }> = []
afterAll(() => {
  recordFigures('broker-attacks', {
    tried: outcomes.length,
    refused: outcomes.filter((o) => o.refused).length,
    attacks: outcomes,
  })
})

beforeAll(async () => {
  const dir = await tempDir()
  const configPath = join(dir, 'broker.json')
  await writeFile(
    configPath,
    JSON.stringify({
      targets: {
        reporting: {
          provider: 'static',
          env: { PGUSER: 'reports', PGPASSWORD: REPORTING_PASSWORD, PGDATABASE: 'reporting' },
        },
      },
      clients: [
        { name: 'admin', token: ADMIN_TOKEN, targets: '*' },
        { name: 'reports', token: REPORTS_TOKEN, targets: ['reporting'] },
      ],
    }),
  )
  const started = await startTestBroker({
    LAKEBASE_PROVIDER: 'static',
    PGUSER: 'app',
    PGPASSWORD: DEFAULT_PASSWORD,
    BROKER_CONFIG: configPath,
    BROKER_TOKEN: '',
  })
  broker = started.broker
  port = Number(new URL(broker.url).port)
  for (const [label, value] of Object.entries({
    ADMIN_TOKEN,
    REPORTS_TOKEN,
    DEFAULT_PASSWORD,
    REPORTING_PASSWORD,
  })) {
    secrets.secret(label, value)
  }
  secrets.output('broker logs', started.logs.text)
  // Both targets hold a credential, so a refusal is the guard's doing, not an empty cache.
  await waitFor(async () => (await send({ path: '/readyz' })).status === 200, {
    what: 'the broker is ready',
  })
})
afterAll(async () => {
  secrets.output('metrics', (await send({ path: '/metrics' })).body)
  await broker?.close()
})

interface Sent {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One raw HTTP/1.1 request (node:http, so that Host and every other header are sent as given). */
function send(options: {
  method?: string
  path?: string
  headers?: Record<string, string>
  /** Another broker's port; the loopback broker's by default. */
  port?: number
}): Promise<Sent> {
  const to = options.port ?? port
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: to,
        method: options.method ?? 'GET',
        path: options.path ?? '/v1/credentials',
        headers: { host: `127.0.0.1:${to}`, ...options.headers },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

interface Attack {
  name: string
  method?: string
  path?: string
  headers: Record<string, string>
  status: number
  code: string
}

const ATTACKS: Attack[] = [
  { name: 'no token', headers: {}, status: 401, code: 'BROKER_UNAUTHORIZED' },
  {
    name: 'an empty bearer',
    headers: { authorization: 'Bearer ' },
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'a wrong token',
    headers: bearer('not-the-client-token-at-all'),
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'a token with one character more',
    headers: bearer(`${ADMIN_TOKEN}x`),
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'a token cut short',
    headers: bearer(ADMIN_TOKEN.slice(0, -1)),
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'two tokens',
    headers: { authorization: `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}` },
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'the token as Basic credentials',
    headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}` },
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'the token in the query string',
    path: `/v1/credentials?token=${ADMIN_TOKEN}`,
    headers: {},
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'the token in a cookie',
    headers: { cookie: `token=${ADMIN_TOKEN}` },
    status: 401,
    code: 'BROKER_UNAUTHORIZED',
  },
  {
    name: 'a token for another target (default)',
    headers: bearer(REPORTS_TOKEN),
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a token for another target, named',
    path: '/v1/credentials/default',
    headers: bearer(REPORTS_TOKEN),
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a target that does not exist',
    path: '/v1/credentials/..%2Fdefault',
    headers: bearer(ADMIN_TOKEN),
    status: 404,
    code: 'UNKNOWN_TARGET',
  },
  {
    name: 'a foreign Host',
    headers: { ...bearer(ADMIN_TOKEN), host: 'evil.example' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a foreign Host with the broker’s port (DNS rebinding)',
    headers: { ...bearer(ADMIN_TOKEN), host: `evil.example:${8990}` },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a Host that starts like loopback',
    headers: { ...bearer(ADMIN_TOKEN), host: '127.0.0.1.evil.example' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a Host that ends like localhost',
    headers: { ...bearer(ADMIN_TOKEN), host: 'localhost.evil.example' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a foreign Host on /metrics',
    path: '/metrics',
    headers: { host: 'evil.example' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'X-Forwarded-For (a relaying proxy)',
    headers: { ...bearer(ADMIN_TOKEN), 'x-forwarded-for': '203.0.113.7' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'X-Forwarded-For naming loopback',
    headers: { ...bearer(ADMIN_TOKEN), 'x-forwarded-for': '127.0.0.1' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'Forwarded',
    headers: { ...bearer(ADMIN_TOKEN), forwarded: 'for=203.0.113.7' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a cross-origin browser request',
    headers: {
      ...bearer(ADMIN_TOKEN),
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
      'sec-fetch-mode': 'cors',
    },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a cross-origin request without Sec-Fetch headers',
    headers: { ...bearer(ADMIN_TOKEN), origin: 'https://evil.example' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'an opaque origin (a sandboxed page)',
    headers: { ...bearer(ADMIN_TOKEN), origin: 'null' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a same-site browser request',
    headers: { ...bearer(ADMIN_TOKEN), 'sec-fetch-site': 'same-site' },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a CORS preflight',
    method: 'OPTIONS',
    headers: {
      origin: 'https://evil.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
    status: 403,
    code: 'BROKER_FORBIDDEN',
  },
  {
    name: 'a write to the credential endpoint',
    method: 'POST',
    headers: bearer(ADMIN_TOKEN),
    status: 404,
    code: 'NOT_FOUND',
  },
]

describe('attacks on the broker endpoint, over HTTP', () => {
  it('answers the real client, so that the refusals below are the guard’s', async () => {
    const ok = await send({ headers: bearer(ADMIN_TOKEN) })
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({ password: DEFAULT_PASSWORD })
    const reports = await send({
      path: '/v1/credentials/reporting',
      headers: bearer(REPORTS_TOKEN),
    })
    expect(JSON.parse(reports.body)).toMatchObject({ password: REPORTING_PASSWORD })
  })

  it.each(ATTACKS)('refuses $name with $status $code', async (attack) => {
    const answer = await send(attack)
    const refused = answer.status === attack.status && !answer.body.includes('"password"')
    outcomes.push({ attack: attack.name, status: answer.status, refused })
    secrets.output(`answer to ${attack.name}`, `${JSON.stringify(answer.headers)}\n${answer.body}`)
    expect(answer.status).toBe(attack.status)
    expect(JSON.parse(answer.body)).toMatchObject({ detail: { error_code: attack.code } })
    expect(answer.headers['access-control-allow-origin']).toBeUndefined()
    expect(answer.headers['cache-control']).toBe('no-store')
  })
})

describe('attacks on a broker listening beyond loopback (BROKER_HOST=0.0.0.0)', () => {
  let wide: RunningBroker
  let widePort: number
  beforeAll(async () => {
    // Asked on loopback: the test sends nothing off this machine.
    const started = await startTestBroker({
      LAKEBASE_PROVIDER: 'static',
      PGUSER: 'wide-role',
      PGPASSWORD: DEFAULT_PASSWORD,
      BROKER_HOST: '0.0.0.0',
      BROKER_TOKEN: ADMIN_TOKEN,
    })
    wide = started.broker
    widePort = Number(new URL(wide.url).port)
    secrets.output('wide broker logs', started.logs.text)
    await waitFor(async () => (await send({ path: '/readyz', port: widePort })).status === 200, {
      what: 'the wide broker is ready',
    })
  })
  afterAll(async () => {
    await wide?.close()
  })

  it.each(['/', '/status.json', '/metrics'])(
    'refuses reading %s without a client token, naming no role or host',
    async (path) => {
      const answer = await send({ path, port: widePort })
      const refused = answer.status === 401 && !answer.body.includes('wide-role')
      outcomes.push({
        attack: `${path} off loopback without a token`,
        status: answer.status,
        refused,
      })
      secrets.output(`answer to ${path} off loopback`, answer.body)
      expect(answer.status).toBe(401)
      expect(JSON.parse(answer.body)).toMatchObject({
        detail: { error_code: 'BROKER_UNAUTHORIZED' },
      })
      expect(answer.body).not.toContain('wide-role')
      expect((await send({ path, port: widePort, headers: bearer(ADMIN_TOKEN) })).status).toBe(200)
    },
  )

  it('says no more than ready or not on /readyz', async () => {
    const answer = await send({ path: '/readyz', port: widePort })
    const bare =
      answer.status === 200 && JSON.stringify(Object.keys(JSON.parse(answer.body))) === '["ready"]'
    outcomes.push({ attack: '/readyz off loopback', status: answer.status, refused: bare })
    expect(JSON.parse(answer.body)).toEqual({ ready: true })
  })
})
