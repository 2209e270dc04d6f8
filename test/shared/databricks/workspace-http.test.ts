import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import {
  callWorkspace,
  WORKSPACE_CALL_TIMEOUT_MS,
  type WorkspaceRequest,
} from '../../../shared/databricks/workspace-http.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { onUnhandled } from '../../../testing/unhandled.js'
import { deferred } from '../../support/deferred.js'
import { errorText } from '../../support/error-text.js'
import { rejectionOf } from '../../support/rejection.js'
import { createMockWorkspace, type MockWorkspace } from '../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const instanceSchema = z.object({ name: z.string(), state: z.string() })

let clock: ManualClock
let ws: MockWorkspace

beforeEach(() => {
  clock = new ManualClock()
  ws = createMockWorkspace({ now: () => clock.now() })
  server.use(...ws.handlers)
})

function getInstance(overrides: Partial<WorkspaceRequest> = {}): WorkspaceRequest {
  return {
    method: 'GET',
    url: `${ws.host}/api/2.0/database/instances/${ws.instanceName}`,
    authorization: `Bearer ${ws.pat}`,
    operation: 'the instance lookup',
    signal: new AbortController().signal,
    ...overrides,
  }
}

describe('callWorkspace', () => {
  it('returns the 2xx JSON body parsed by the schema', async () => {
    const instance = await callWorkspace(getInstance(), instanceSchema, { clock })
    expect(instance).toEqual({ name: ws.instanceName, state: 'AVAILABLE' })
    expect(ws.calls.getInstance).toBe(1)
  })

  it('sends the JSON body and the bearer token', async () => {
    await callWorkspace(
      {
        method: 'POST',
        url: `${ws.host}/api/2.0/database/credentials`,
        authorization: `Bearer ${ws.pat}`,
        json: { instance_names: [ws.instanceName], request_id: crypto.randomUUID() },
        operation: 'the credential request',
        signal: new AbortController().signal,
      },
      z.object({ token: z.string() }),
      { clock },
    )
    const [request] = ws.requests
    expect(request?.authorization).toBe(`Bearer ${ws.pat}`)
    expect(JSON.parse(request?.body ?? '')).toMatchObject({ instance_names: [ws.instanceName] })
  })

  it('reports 429 as transient rate limiting with the upstream code and Retry-After in ms', async () => {
    ws.script('getInstance', { status: 429, retryAfter: 2 })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('rate_limited')
    expect(err.kind).toBe('transient')
    expect(err.upstreamStatus).toBe(429)
    expect(err.upstreamErrorCode).toBe('REQUEST_LIMIT_EXCEEDED')
    expect(err.retryAfterMs).toBe(2_000)
  })

  it('reads a Retry-After HTTP date against the injected clock', async () => {
    const in30s = new Date(clock.now() + 30_000).toUTCString()
    ws.script('getInstance', { status: 503, retryAfter: in30s })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('upstream_5xx')
    expect(err.retryAfterMs).toBe(30_000)
  })

  it('reports 403 as permanent, with the upstream error_code and message', async () => {
    ws.script('getInstance', {
      status: 403,
      error_code: 'PERMISSION_DENIED',
      message: 'User does not have USE permission on the instance.',
    })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('forbidden')
    expect(err.kind).toBe('permanent')
    expect(err.upstreamErrorCode).toBe('PERMISSION_DENIED')
    expect(err.message).toBe(
      'the instance lookup failed with HTTP 403 PERMISSION_DENIED: User does not have USE permission on the instance.',
    )
    expect(err.retryAfterMs).toBeUndefined()
  })

  it.each([
    [500, 'upstream_5xx', 'transient'],
    [404, 'not_found', 'permanent'],
    [400, 'bad_request', 'permanent'],
  ] as const)('maps HTTP %i to %s (%s)', async (status, errorClass, kind) => {
    ws.script('getInstance', { status })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe(errorClass)
    expect(err.kind).toBe(kind)
    expect(err.upstreamStatus).toBe(status)
  })

  it('reports a refused bearer token as permanent unauthorized with UNAUTHENTICATED', async () => {
    const err = await rejectionOf(
      callWorkspace(getInstance({ authorization: 'Bearer dapi-wrong' }), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('unauthorized')
    expect(err.kind).toBe('permanent')
    expect(err.upstreamErrorCode).toBe('UNAUTHENTICATED')
  })

  it('reports a 2xx body that is not JSON as malformed_response', async () => {
    ws.script('getInstance', { malformed: true })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toBe('the instance lookup answered with something other than JSON')
  })

  it('names the missing fields of a 2xx body, but not the values it had', async () => {
    ws.script('getInstance', { body: { name: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig' } })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toBe('the instance lookup answered without the expected fields: state')
    expect(errorText(err)).not.toContain('eyJ')
  })

  it('reports a dropped connection as a transient network error', async () => {
    ws.script('getInstance', { networkError: true })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.errorClass).toBe('network')
    expect(err.kind).toBe('transient')
  })

  it('gives up after WORKSPACE_CALL_TIMEOUT_MS as a transient timeout', async () => {
    ws.script('getInstance', { delayMs: 'infinite' })
    const call = rejectionOf(callWorkspace(getInstance(), instanceSchema, { clock }), UpstreamError)
    await clock.advance(WORKSPACE_CALL_TIMEOUT_MS)
    const err = await call
    expect(err.errorClass).toBe('timeout')
    expect(err.kind).toBe('transient')
  })

  it('waits for an answer that comes just before the timeout', async () => {
    const answer = deferred<void>()
    ws.script('getInstance', { until: answer.promise })
    const call = callWorkspace(getInstance(), instanceSchema, { clock })
    await clock.advance(WORKSPACE_CALL_TIMEOUT_MS - 1)
    answer.resolve()
    await expect(call).resolves.toMatchObject({ state: 'AVAILABLE' })
    expect(clock.nextTimerAt()).toBeUndefined()
  })

  it('honours a shorter timeout given in the options', async () => {
    ws.script('getInstance', { delayMs: 'infinite' })
    const call = rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock, timeoutMs: 500 }),
      UpstreamError,
    )
    await clock.advance(500)
    expect((await call).errorClass).toBe('timeout')
  })

  it("stops when the caller's signal aborts", async () => {
    ws.script('getInstance', { delayMs: 'infinite' })
    const caller = new AbortController()
    const call = rejectionOf(
      callWorkspace(getInstance({ signal: caller.signal }), instanceSchema, { clock }),
      UpstreamError,
    )
    caller.abort()
    expect((await call).errorClass).toBe('timeout')
  })

  it('uses the injected fetch', async () => {
    const seen: string[] = []
    const fetch: typeof globalThis.fetch = async (input, init) => {
      seen.push(String(input))
      return globalThis.fetch(input, init)
    }
    await callWorkspace(getInstance(), instanceSchema, { clock, fetch })
    expect(seen).toEqual([`${ws.host}/api/2.0/database/instances/${ws.instanceName}`])
  })

  it('removes the credentials it sent from an upstream message that echoes them', async () => {
    ws.script('getInstance', {
      status: 400,
      message: `token ${ws.pat} is malformed; also saw eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln`,
    })
    const err = await rejectionOf(
      callWorkspace(getInstance(), instanceSchema, { clock }),
      UpstreamError,
    )
    expect(err.message).toContain('token [REDACTED] is malformed; also saw [REDACTED]')
    expect(errorText(err)).not.toContain(ws.pat)
  })
})
