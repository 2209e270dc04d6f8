import { z } from 'zod'
import { type Clock, systemClock } from '../client/clock.js'
import { toUpstreamError, type UpstreamError } from './upstream-error.js'
import type { WorkspaceAuth } from './workspace-auth.js'
import { callWorkspace } from './workspace-http.js'

/** What one invocation came to; failures are values, so that every outcome can be logged. */
export type Invocation =
  | { outcome: 'success'; predictions: unknown; durationMs: number }
  | { outcome: 'error' | 'timeout'; error: UpstreamError; durationMs: number }

/** A serving endpoint as `GET /api/model-serving/endpoints` lists it. */
export interface ServingEndpoint {
  name: string
  /** True when the endpoint accepts invocations (`state.ready` is `READY`). */
  ready: boolean
  /** Databricks' own state fields, as given (null when absent). */
  state: { ready: string | null; config_update: string | null }
  /** e.g. `llm/v1/chat`; null for custom models that declare none. */
  task: string | null
}

/** Who the call is made as: the signed-in user's token, or (without one) the app's own auth. */
export interface CallAs {
  /** `X-Forwarded-Access-Token`, only when forwarded headers are trusted. */
  userToken?: string | undefined
}

export interface ServingClientOptions {
  /** The app's own workspace auth, and the workspace's host. */
  auth: WorkspaceAuth
  /** Defaults to `globalThis.fetch`, read at call time so that MSW can intercept it. */
  fetch?: typeof globalThis.fetch
  /** Arms the invocation timeout and times the call; injected so that tests fire it. */
  clock?: Clock
}

const endpointListSchema = z.object({
  endpoints: z
    .array(
      z.object({
        name: z.string(),
        state: z
          .object({ ready: z.string().optional(), config_update: z.string().optional() })
          .optional(),
        task: z.string().optional(),
      }),
    )
    .optional(),
})

/**
 * Calls Databricks model serving: `POST {host}/serving-endpoints/{name}/invocations` and
 * `GET {host}/api/2.0/serving-endpoints`, signed with the user's forwarded token when given,
 * else the app's workspace auth. Failures are UpstreamErrors carrying the upstream status and
 * error code; their messages never hold a token.
 */
export class ServingClient {
  readonly host: string
  readonly #auth: WorkspaceAuth
  readonly #fetch: typeof globalThis.fetch | undefined
  readonly #clock: Clock

  constructor(options: ServingClientOptions) {
    this.host = options.auth.host
    this.#auth = options.auth
    this.#fetch = options.fetch
    this.#clock = options.clock ?? systemClock
  }

  /** Now, on the client's clock: what invocations are timed with. */
  now(): number {
    return this.#clock.now()
  }

  /**
   * Sends `body` to the endpoint and returns its JSON answer, or the failure. `timeoutMs` bounds
   * the whole call, workspace sign-in included; when it passes the request is abandoned.
   */
  async invoke(
    endpointName: string,
    body: Record<string, unknown>,
    options: CallAs & { timeoutMs: number },
  ): Promise<Invocation> {
    const started = this.#clock.now()
    const deadline = new AbortController()
    const timer = this.#clock.setTimer(
      () =>
        deadline.abort(
          new DOMException(
            `${endpointName} did not answer in ${options.timeoutMs} ms`,
            'TimeoutError',
          ),
        ),
      options.timeoutMs,
    )
    try {
      const authorization = await this.#authorization(options, deadline.signal)
      const predictions = await callWorkspace(
        {
          method: 'POST',
          url: `${this.host}/serving-endpoints/${encodeURIComponent(endpointName)}/invocations`,
          authorization,
          json: body,
          operation: `the invocation of serving endpoint ${endpointName}`,
          signal: deadline.signal,
        },
        z.unknown(),
        { fetch: this.#fetch, clock: this.#clock, timeoutMs: options.timeoutMs },
      )
      return { outcome: 'success', predictions, durationMs: this.#clock.now() - started }
    } catch (err) {
      const error = toUpstreamError(err)
      return {
        outcome: error.errorClass === 'timeout' ? 'timeout' : 'error',
        error,
        durationMs: this.#clock.now() - started,
      }
    } finally {
      this.#clock.clearTimer(timer)
    }
  }

  /** The workspace's serving endpoints and whether each is ready; throws UpstreamError. */
  async listEndpoints(options: CallAs = {}): Promise<ServingEndpoint[]> {
    const signal = new AbortController().signal
    const listed = await callWorkspace(
      {
        method: 'GET',
        url: `${this.host}/api/2.0/serving-endpoints`,
        authorization: await this.#authorization(options, signal),
        operation: 'the serving endpoint list request',
        signal,
      },
      endpointListSchema,
      { fetch: this.#fetch, clock: this.#clock },
    )
    return (listed.endpoints ?? []).map((endpoint) => ({
      name: endpoint.name,
      ready: endpoint.state?.ready === 'READY',
      state: {
        ready: endpoint.state?.ready ?? null,
        config_update: endpoint.state?.config_update ?? null,
      },
      task: endpoint.task ?? null,
    }))
  }

  async #authorization(options: CallAs, signal: AbortSignal): Promise<string> {
    if (options.userToken !== undefined) return `Bearer ${options.userToken}`
    return `Bearer ${(await this.#auth.token(signal)).accessToken}`
  }
}
