import { delay, HttpResponse } from 'msw'
import type { MockRoute } from '../routes.js'
import { databricksError, type ScriptStep, scriptedError } from '../script.js'
import { connectionReset } from './connection-reset.js'
import type { Caller, WorkspaceContext } from './context.js'

/** What a route's own answer is given, once the common part let the call through. */
export interface RouteCall {
  request: Request
  params: Record<string, string | readonly string[] | undefined>
  step: ScriptStep
  /** The bearer token's owner; undefined on a public route. */
  caller: Caller | undefined
  body: string | undefined
}

/** A route's own answer. */
export type Respond = (call: RouteCall) => Response | Promise<Response>

/**
 * An MSW resolver for `name` that first does what every route does: count and record the call,
 * follow its scripted step (wait, drop the connection, fail, misbehave), and, on a `bearer`
 * route, refuse a caller without a valid token (401); then answers with `respond`.
 */
export function route(
  context: WorkspaceContext,
  name: MockRoute,
  access: 'bearer' | 'public',
  respond: Respond,
) {
  return async ({ request, params }: { request: Request; params: RouteCall['params'] }) => {
    context.calls[name]++
    const body = request.method === 'GET' ? undefined : await request.clone().text()
    context.requests.push({
      route: name,
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      body,
    })
    const step = context.nextStep(name)
    const early = await misbehave(context, name, step)
    if (early !== undefined) return early
    let caller: Caller | undefined
    if (access === 'bearer') {
      caller = context.authenticate(request)
      if (caller === undefined) {
        return databricksError(
          401,
          'UNAUTHENTICATED',
          'Credential was not sent or was of an unsupported type for this API.',
        )
      }
    }
    const spoiled = spoiledAnswer(step)
    if (spoiled !== undefined) return spoiled
    const response = await respond({ request, params, step, caller, body })
    return step.omitFields === undefined ? response : withoutFields(response, step.omitFields)
  }
}

/** What a step does before the caller is checked: wait, then maybe drop or fail the call. */
async function misbehave(
  context: WorkspaceContext,
  name: MockRoute,
  step: ScriptStep,
): Promise<Response | undefined> {
  if (step.until !== undefined) await step.until
  if (step.delayMs === 'infinite') await delay('infinite')
  else if (step.delayMs !== undefined) await context.sleep(step.delayMs)
  if (step.networkError) return connectionReset()
  if (step.status !== undefined && step.status >= 400) {
    return scriptedError(name, { ...step, status: step.status })
  }
  return undefined
}

/** A step's answer in place of the route's own, for an authenticated caller. */
function spoiledAnswer(step: ScriptStep): Response | undefined {
  if (step.malformed) {
    return new HttpResponse('<html><body>502 Bad Gateway</body></html>', {
      status: 200,
      headers: { 'Content-Type': 'text/html' },
    })
  }
  if (step.truncatedJson) {
    return new HttpResponse('{"token": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIi', {
      status: 200,
      headers: { 'Content-Type': 'application/json' },
    })
  }
  if (step.body !== undefined) return HttpResponse.json(step.body as object)
  return undefined
}

/** The same answer without the named top-level fields (a 2xx JSON object only). */
async function withoutFields(response: Response, fields: readonly string[]): Promise<Response> {
  if (!response.ok) return response
  const json = (await response.json()) as Record<string, unknown>
  for (const field of fields) delete json[field]
  // The body is shorter now: a copied Content-Length would leave the client waiting for the rest
  // (msw 3 sends the header as given).
  const headers = new Headers(response.headers)
  headers.delete('content-length')
  return HttpResponse.json(json, { status: response.status, headers })
}
