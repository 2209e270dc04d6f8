import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { MODEL_RETRY_AFTER_S } from '../../functions/model-serving/model-error.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import type { ServingClient } from '../../shared/databricks/serving-client.js'
import { servingClientFromSettings } from '../../shared/databricks/serving-connect.js'
import { workspaceAuthSettingsFromEnv } from '../../shared/databricks/workspace-settings.js'
import { flush, ManualClock } from '../../testing/manual-clock.js'
import { onUnhandled } from '../../testing/unhandled.js'
import { captureLogs } from '../support/capture-logs.js'
import { deferred } from '../support/deferred.js'
import { freePort } from '../support/free-port.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'
import {
  COLD_ENDPOINT_RETRY_AFTER_S,
  createMockServing,
  createMockWorkspace,
  type MockServing,
  type MockWorkspace,
} from '../testing/workspace/index.js'

const WORKSPACE = 'https://workspace.test'
const server = setupServer()
beforeAll(() =>
  server.listen(
    // The broker and Postgres are real and local; only the workspace is mocked.
    onUnhandled((request) => (new URL(request.url).origin === WORKSPACE ? 'error' : 'bypass')),
  ),
)
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

/** What the Apps proxy forwards when user authorization is on; shaped like a real token. */
const USER_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.user-token-signature'
const BOB = 'bob@example.com'

let stack: FunctionsStack
let clock: ManualClock
let ws: MockWorkspace
let serving: MockServing
let client: ServingClient | undefined

beforeAll(async () => {
  stack = await startFunctionsStack()
})
afterAll(async () => {
  await stack?.close()
})

beforeEach(async () => {
  clock = new ManualClock()
  ws = createMockWorkspace({ host: WORKSPACE })
  serving = createMockServing(ws)
  server.use(...ws.handlers, ...serving.handlers)
  client = await servingClientFromSettings(workspaceAuthSettingsFromEnv(ws.env()), { clock })
})

/** The app with the workspace's serving client; forwarded headers trusted unless said. */
function functions(options: { trustForwardedHeaders?: boolean } = {}) {
  return stack.variant({ modelServing: client, ...options })
}

const invoke = (
  body: Record<string, unknown>,
  user: string | null = 'alice@example.com',
  headers: Record<string, string> = {},
) => functions().call('POST', '/api/model-serving/invoke', { user, body, headers })

type Detail = {
  error_code: string
  message: string
  technical_details: Record<string, unknown>
  retry_after: number | null
}
const detailOf = async (response: Response) =>
  ((await response.json()) as { detail: Detail }).detail

async function logRow(id: unknown) {
  const [row] = await stack.db.sql`select * from model_inference_logs where id = ${Number(id)}`
  return row as Record<string, unknown>
}

describe('POST /api/model-serving/invoke', () => {
  it('calls the endpoint as the app, answers its predictions and logs the call SUCCESS', async () => {
    const held = deferred<void>()
    serving.script('invocations', { until: held.promise })
    const inputs = { messages: [{ role: 'user', content: 'Hello' }] }

    const pending = invoke({ endpoint_name: 'chat', inputs })
    await vi.waitFor(() => expect(serving.calls.invocations).toBe(1))
    await clock.advance(250)
    held.resolve()
    const response = await pending

    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toEqual({
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      endpoint_name: 'chat',
      status: 'SUCCESS',
      predictions: { predictions: [{ echo: inputs }] },
      execution_time_ms: 250,
      log_id: expect.any(Number),
    })
    expect(serving.requests[0]).toMatchObject({
      endpoint: 'chat',
      caller: ws.identity,
      body: JSON.stringify(inputs),
    })
    expect(await logRow(body.log_id)).toMatchObject({
      request_id: body.request_id,
      user_id: 'alice@example.com',
      endpoint_name: 'chat',
      inputs,
      predictions: body.predictions,
      status: 'SUCCESS',
      execution_time_ms: 250,
      error_message: null,
      completed_at: expect.any(Date),
    })
  })

  it.each([
    ['an upstream 500', 'broken', undefined, 500, 'INTERNAL_ERROR', 'upstream_5xx'],
    [
      'an unknown endpoint',
      'no-such-endpoint',
      undefined,
      404,
      'RESOURCE_DOES_NOT_EXIST',
      'not_found',
    ],
    ['a dropped connection', 'chat', { networkError: true }, undefined, undefined, 'network'],
  ])(
    'answers %s with 503 MODEL_UNAVAILABLE and logs it ERROR',
    async (_name, endpoint, step, status, code, errorClass) => {
      if (step) serving.script('invocations', step)

      const response = await invoke({ endpoint_name: endpoint, inputs: { x: 1 } })

      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe(String(MODEL_RETRY_AFTER_S))
      const detail = await detailOf(response)
      expect(detail).toMatchObject({
        error_code: 'MODEL_UNAVAILABLE',
        retry_after: MODEL_RETRY_AFTER_S,
        technical_details: {
          endpoint_name: endpoint,
          request_id: expect.any(String),
          log_id: expect.any(Number),
          error_class: errorClass,
        },
      })
      expect(detail.technical_details.upstream_status).toBe(status)
      expect(detail.technical_details.upstream_error_code).toBe(code)
      expect(await logRow(detail.technical_details.log_id)).toMatchObject({
        request_id: detail.technical_details.request_id,
        status: 'ERROR',
        predictions: null,
        error_message: detail.message,
      })
    },
  )

  it("passes on the endpoint's own Retry-After", async () => {
    const response = await invoke({ endpoint_name: 'cold', inputs: {} })
    expect(response.status).toBe(503)
    expect((await detailOf(response)).retry_after).toBe(COLD_ENDPOINT_RETRY_AFTER_S)
  })

  it('answers 503 MODEL_TIMEOUT once timeout_seconds pass, not before, and logs it TIMEOUT', async () => {
    const never = deferred<void>()
    serving.script('invocations', { until: never.promise })
    let settled = false
    const pending = invoke({ endpoint_name: 'slow', inputs: {}, timeout_seconds: 2 }).finally(
      () => {
        settled = true
      },
    )
    await vi.waitFor(() => expect(serving.calls.invocations).toBe(1))

    await clock.advance(1_999)
    await flush()
    expect(settled).toBe(false)
    await clock.advance(1)
    const response = await pending

    expect(response.status).toBe(503)
    const detail = await detailOf(response)
    expect(detail).toMatchObject({
      error_code: 'MODEL_TIMEOUT',
      message: 'serving endpoint slow did not answer within 2 s',
      retry_after: MODEL_RETRY_AFTER_S,
      technical_details: { endpoint_name: 'slow', error_class: 'timeout' },
    })
    expect(await logRow(detail.technical_details.log_id)).toMatchObject({
      status: 'TIMEOUT',
      execution_time_ms: 2_000,
      error_message: detail.message,
    })
    never.resolve()
  })

  it('calls as the signed-in user with their forwarded token behind the Apps proxy', async () => {
    serving.acceptUserToken(USER_TOKEN, BOB)
    const response = await invoke({ endpoint_name: 'chat', inputs: {} }, BOB, {
      'x-forwarded-access-token': USER_TOKEN,
    })
    expect(response.status).toBe(200)
    expect(serving.requests[0]).toMatchObject({
      caller: BOB,
      authorization: `Bearer ${USER_TOKEN}`,
    })
  })

  it('ignores a forwarded token when forwarded headers are not trusted, and calls as the app', async () => {
    serving.acceptUserToken(USER_TOKEN, BOB)
    const response = await functions({ trustForwardedHeaders: false }).call(
      'POST',
      '/api/model-serving/invoke',
      {
        user: BOB,
        body: { endpoint_name: 'chat', inputs: {} },
        headers: { 'x-forwarded-access-token': USER_TOKEN },
      },
    )
    expect(response.status).toBe(200)
    expect(serving.requests[0]?.caller).toBe(ws.identity)
    expect(serving.requests[0]?.authorization).toBe(`Bearer ${ws.pat}`)
    const body = (await response.json()) as { log_id: number }
    expect((await logRow(body.log_id)).user_id).toBe('dev-user@example.com')
  })

  it('answers 401 AUTH_REQUIRED for a forwarded token no header could carry on, calling nothing', async () => {
    for (const route of ['/api/model-serving/invoke', '/api/model-serving/endpoints']) {
      const response = await functions({ trustForwardedHeaders: true }).call(
        route.endsWith('invoke') ? 'POST' : 'GET',
        route,
        {
          user: BOB,
          ...(route.endsWith('invoke') ? { body: { endpoint_name: 'chat', inputs: {} } } : {}),
          // A control character: fetch refuses such a header, which once surfaced as a 503.
          headers: { 'x-forwarded-access-token': 'eyJ\u000ebad token' },
        },
      )
      expect(response.status, route).toBe(401)
      expect(((await response.json()) as { detail: Detail }).detail.error_code).toBe(
        'AUTH_REQUIRED',
      )
    }
    expect(serving.requests).toHaveLength(0)
  })

  it('signs in as the app with OAuth M2M, through the same workspace auth as the broker', async () => {
    client = await servingClientFromSettings(
      workspaceAuthSettingsFromEnv(ws.env({ auth: 'oauth-m2m' })),
      { clock },
    )
    const response = await invoke({ endpoint_name: 'chat', inputs: {} })
    expect(response.status).toBe(200)
    expect(serving.requests[0]?.caller).toBe(ws.clientId)
    expect(ws.calls.oidcToken).toBe(1)
  })

  it('never puts a token in an error body, a log row or a log line', async () => {
    serving.acceptUserToken(USER_TOKEN, BOB)
    // An upstream that repeats the credential it was sent, as careless services do.
    serving.script('invocations', {
      status: 403,
      error_code: 'PERMISSION_DENIED',
      message: `token ${USER_TOKEN} may not query chat`,
    })
    const asUser = await invoke({ endpoint_name: 'chat', inputs: {} }, BOB, {
      'x-forwarded-access-token': USER_TOKEN,
    })
    serving.script('invocations', { status: 500, message: `the PAT ${ws.pat} is wrong` })
    const asApp = await invoke({ endpoint_name: 'chat', inputs: {} })

    const bodies = [await asUser.text(), await asApp.text()]
    expect(bodies[0]).toContain('PERMISSION_DENIED')
    const rows = await stack.db.sql`select * from model_inference_logs`
    for (const text of [...bodies, JSON.stringify(rows), stack.logs.text()]) {
      expect(text).not.toContain(USER_TOKEN)
      expect(text).not.toContain(ws.pat)
    }
  })

  it('answers 503 MODEL_UNAVAILABLE naming DATABRICKS_HOST when no workspace is configured, and logs the call', async () => {
    const response = await stack
      .variant({ modelServing: undefined })
      .call('POST', '/api/model-serving/invoke', { body: { endpoint_name: 'chat', inputs: {} } })
    expect(response.status).toBe(503)
    const detail = await detailOf(response)
    expect(detail.error_code).toBe('MODEL_UNAVAILABLE')
    expect(String(detail.technical_details.suggestion)).toContain('DATABRICKS_HOST')
    expect((await logRow(detail.technical_details.log_id)).status).toBe('ERROR')
    expect(serving.calls.invocations).toBe(0)
  })

  it.each([
    ['timeout_seconds 0', { timeout_seconds: 0 }, 'timeout_seconds'],
    ['timeout_seconds 301', { timeout_seconds: 301 }, 'timeout_seconds'],
    ['a fractional timeout', { timeout_seconds: 1.5 }, 'timeout_seconds'],
    ['inputs that are not an object', { inputs: [1, 2] }, 'inputs'],
    ['an endpoint name with a slash', { endpoint_name: 'a/../b' }, 'endpoint_name'],
    ['no endpoint name', { endpoint_name: undefined }, 'endpoint_name'],
  ])(
    'refuses %s with 400 INVALID_REQUEST, calling and logging nothing',
    async (_name, change, field) => {
      const [before] = await stack.db.sql`select count(*)::int as n from model_inference_logs`
      const response = await invoke({ endpoint_name: 'chat', inputs: {}, ...change })
      expect(response.status).toBe(400)
      const detail = await detailOf(response)
      expect(detail.error_code).toBe('INVALID_REQUEST')
      expect(detail.technical_details.fields).toEqual([expect.objectContaining({ field })])
      expect(serving.calls.invocations).toBe(0)
      const [after] = await stack.db.sql`select count(*)::int as n from model_inference_logs`
      expect(after?.n).toBe(before?.n)
    },
  )

  it("still answers the endpoint's predictions when the log cannot be written", async () => {
    const credentials = connectBroker({
      url: `http://127.0.0.1:${await freePort()}`,
      token: 'no-broker-listens-here',
    })
    const logs = captureLogs()
    const app = buildFunctionsApp({
      database: new FunctionsDatabase({ credentials, logger: logs.logger }),
      credentials,
      logger: logs.logger,
      trustForwardedHeaders: false,
      devUser: 'dev-user@example.com',
      preferenceKeys: ['theme'],
      modelServing: client,
    })
    const response = await app.request('/api/model-serving/invoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint_name: 'chat', inputs: { q: 1 } }),
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      status: 'SUCCESS',
      predictions: { predictions: [{ echo: { q: 1 } }] },
      log_id: null,
    })
    expect(logs.text()).toContain('inference log not written')
  })

  it('needs a signed-in user behind the Apps proxy', async () => {
    const response = await invoke({ endpoint_name: 'chat', inputs: {} }, null)
    expect(response.status).toBe(401)
  })
})

describe('GET /api/model-serving/endpoints', () => {
  it('lists the endpoints with whether each is ready', async () => {
    const response = await functions().call('GET', '/api/model-serving/endpoints')
    expect(response.status).toBe(200)
    const { endpoints } = (await response.json()) as { endpoints: Record<string, unknown>[] }
    expect(endpoints.map((e) => e.name)).toEqual(['chat', 'slow', 'broken', 'cold'])
    expect(endpoints[0]).toEqual({
      name: 'chat',
      ready: true,
      state: { ready: 'READY', config_update: 'NOT_UPDATING' },
      task: 'llm/v1/chat',
    })
    expect(endpoints[3]).toMatchObject({ name: 'cold', ready: false, task: null })
  })

  it('lists as the signed-in user when their token is forwarded', async () => {
    serving.acceptUserToken(USER_TOKEN, BOB)
    await functions().call('GET', '/api/model-serving/endpoints', {
      user: BOB,
      headers: { 'x-forwarded-access-token': USER_TOKEN },
    })
    expect(serving.requests[0]?.caller).toBe(BOB)
  })

  it('answers 503 MODEL_UNAVAILABLE with the upstream status when the listing fails', async () => {
    serving.script('listServingEndpoints', { status: 503, retryAfter: 7 })
    const response = await functions().call('GET', '/api/model-serving/endpoints')
    expect(response.status).toBe(503)
    expect(await detailOf(response)).toMatchObject({
      error_code: 'MODEL_UNAVAILABLE',
      retry_after: 7,
      technical_details: { upstream_status: 503, upstream_error_code: 'TEMPORARILY_UNAVAILABLE' },
    })
  })

  it('answers 503 MODEL_UNAVAILABLE when no workspace is configured', async () => {
    const response = await stack
      .variant({ modelServing: undefined })
      .call('GET', '/api/model-serving/endpoints')
    expect(response.status).toBe(503)
    expect((await detailOf(response)).error_code).toBe('MODEL_UNAVAILABLE')
  })
})
