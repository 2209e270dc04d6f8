import { delay, type HttpHandler, HttpResponse, http } from 'msw'
import { databricksError, type ScriptStep } from '../../../testing/script.js'
import { connectionReset, type MockWorkspace } from '../../../testing/workspace.js'

/** The model serving calls, by the name they are counted and scripted under. */
export type ServingRoute = 'invocations' | 'listServingEndpoints'

/** A serving endpoint of the mock workspace. */
export interface MockServingEndpoint {
  name: string
  /** `state.ready`: `READY` or `NOT_READY`. */
  ready: 'READY' | 'NOT_READY'
  /** `state.config_update`, e.g. `NOT_UPDATING`, `IN_PROGRESS`, `UPDATE_FAILED`. */
  configUpdate: string
  task?: string
  /** How an invocation is answered (after the endpoint's own `delayMs`, if any). */
  answer:
    | { kind: 'json'; respond: (body: unknown) => unknown }
    | { kind: 'error'; status: number; retryAfterS?: number }
  /** Real milliseconds to wait before answering. */
  delayMs?: number
}

/** One call the serving mock received. */
export interface ServingRequest {
  route: ServingRoute
  /** The endpoint invoked; undefined for the list call. */
  endpoint: string | undefined
  /** Who the bearer token belongs to; undefined when it was refused. */
  caller: string | undefined
  authorization: string | null
  body: string | undefined
}

export interface MockServing {
  /** Add next to the workspace's own: `server.use(...ws.handlers, ...serving.handlers)`. */
  readonly handlers: HttpHandler[]
  readonly calls: Record<ServingRoute, number>
  readonly requests: ServingRequest[]
  /** Mutable: add an endpoint or change one's state mid-test. */
  readonly endpoints: Map<string, MockServingEndpoint>
  /** Accept `token` as the signed-in `user`'s (what the Apps proxy forwards). */
  acceptUserToken(token: string, user: string): void
  /** Queue steps for the next calls of `route` (the workspace kit's ScriptStep). */
  script(route: ServingRoute, ...steps: ScriptStep[]): void
}

/**
 * How long the `slow` endpoint takes: past the 1-second minimum `timeout_seconds`, so that a
 * real-time test can watch a call time out, and short enough not to hold up a test run.
 */
export const SLOW_ENDPOINT_DELAY_MS = 2_000
/** The `Retry-After` the `cold` endpoint sends: a scale-from-zero takes tens of seconds. */
export const COLD_ENDPOINT_RETRY_AFTER_S = 30

/** The endpoints every mock starts with, one per behaviour a test needs. */
export function defaultServingEndpoints(): MockServingEndpoint[] {
  const echo = (body: unknown) => ({ predictions: [{ echo: body }] })
  return [
    {
      name: 'chat',
      ready: 'READY',
      configUpdate: 'NOT_UPDATING',
      task: 'llm/v1/chat',
      answer: { kind: 'json', respond: echo },
    },
    {
      name: 'slow',
      ready: 'READY',
      configUpdate: 'NOT_UPDATING',
      answer: { kind: 'json', respond: echo },
      delayMs: SLOW_ENDPOINT_DELAY_MS,
    },
    {
      name: 'broken',
      ready: 'READY',
      configUpdate: 'UPDATE_FAILED',
      answer: { kind: 'error', status: 500 },
    },
    {
      name: 'cold',
      ready: 'NOT_READY',
      configUpdate: 'IN_PROGRESS',
      answer: { kind: 'error', status: 503, retryAfterS: COLD_ENDPOINT_RETRY_AFTER_S },
    },
  ]
}

/**
 * Databricks model serving on the mock workspace: `POST /serving-endpoints/{name}/invocations`
 * and `GET /api/2.0/serving-endpoints`, with a ready `chat` endpoint (echoes its input), a
 * `slow` one, a `broken` one (500) and a `cold` one (503 with Retry-After, not ready).
 *
 * Bearer tokens accepted: the workspace's PAT (as its identity), any token the workspace minted
 * (OAuth M2M: as the service principal), and user tokens given to `acceptUserToken`.
 */
export function createMockServing(
  workspace: MockWorkspace,
  endpoints: MockServingEndpoint[] = defaultServingEndpoints(),
): MockServing {
  const host = workspace.host
  const calls: Record<ServingRoute, number> = { invocations: 0, listServingEndpoints: 0 }
  const requests: ServingRequest[] = []
  const byName = new Map(endpoints.map((endpoint) => [endpoint.name, endpoint]))
  const userTokens = new Map<string, string>()
  const queues = new Map<ServingRoute, ScriptStep[]>()

  const identify = (authorization: string | null): string | undefined => {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1]
    if (token === undefined) return undefined
    if (token === workspace.pat) return workspace.identity
    if (workspace.minted.includes(token)) return workspace.clientId
    return userTokens.get(token)
  }

  /** Counting, recording, scripting and authentication, common to both routes. */
  const route =
    (
      name: ServingRoute,
      respond: (endpoint: string | undefined, body: unknown) => Promise<Response>,
    ) =>
    async ({ request, params }: { request: Request; params: Record<string, unknown> }) => {
      calls[name]++
      const body = request.method === 'GET' ? undefined : await request.clone().text()
      const authorization = request.headers.get('authorization')
      const caller = identify(authorization)
      const endpoint = params.name === undefined ? undefined : String(params.name)
      requests.push({ route: name, endpoint, caller, authorization, body })
      const step = queues.get(name)?.shift() ?? {}
      if (step.until !== undefined) await step.until
      if (step.delayMs !== undefined) await delay(step.delayMs)
      if (step.networkError) return connectionReset()
      if (step.status !== undefined && step.status >= 400) {
        const headers: Record<string, string> = {}
        if (step.retryAfter !== undefined) headers['Retry-After'] = String(step.retryAfter)
        return databricksError(step.status, step.error_code, step.message, headers)
      }
      if (caller === undefined) {
        return databricksError(401, 'UNAUTHENTICATED', 'Invalid access token.')
      }
      if (step.malformed) {
        return new HttpResponse('<html><body>502 Bad Gateway</body></html>', {
          status: 200,
          headers: { 'Content-Type': 'text/html' },
        })
      }
      if (step.body !== undefined) return HttpResponse.json(step.body as object)
      return respond(endpoint, body === undefined ? undefined : parseJson(body))
    }

  const handlers: HttpHandler[] = [
    http.post(
      `${host}/serving-endpoints/:name/invocations`,
      route('invocations', async (name, body) => {
        const endpoint = name === undefined ? undefined : byName.get(name)
        if (endpoint === undefined) {
          return databricksError(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Endpoint with name '${name}' does not exist.`,
          )
        }
        if (endpoint.delayMs !== undefined) await delay(endpoint.delayMs)
        if (endpoint.answer.kind === 'error') {
          const headers: Record<string, string> =
            endpoint.answer.retryAfterS === undefined
              ? {}
              : { 'Retry-After': String(endpoint.answer.retryAfterS) }
          return databricksError(endpoint.answer.status, undefined, undefined, headers)
        }
        return HttpResponse.json(endpoint.answer.respond(body) as object)
      }),
    ),
    http.get(
      `${host}/api/2.0/serving-endpoints`,
      route('listServingEndpoints', async () =>
        HttpResponse.json({
          endpoints: [...byName.values()].map((endpoint) => ({
            name: endpoint.name,
            creator: workspace.identity,
            creation_timestamp: 1_764_000_000_000,
            state: { ready: endpoint.ready, config_update: endpoint.configUpdate },
            ...(endpoint.task === undefined ? {} : { task: endpoint.task }),
          })),
        }),
      ),
    ),
  ]

  return {
    handlers,
    calls,
    requests,
    endpoints: byName,
    acceptUserToken(token, user) {
      userTokens.set(token, user)
    },
    script(name, ...steps) {
      queues.set(name, [...(queues.get(name) ?? []), ...steps])
    },
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
