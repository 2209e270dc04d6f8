import { randomUUID } from 'node:crypto'
import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { isAccessToken, LakebaseError } from 'lakebase-broker'
import { describeError as describe, type IdentityEnv, type Logger } from 'lakebase-broker/hono'
import { type Invocation, type ServingClient, toUpstreamError } from 'lakebase-broker/workspace'
import type { FunctionsDatabase } from '../db/database.js'
import {
  modelFailure,
  modelServingNotConfigured,
  NOT_CONFIGURED_MESSAGE,
  timeoutMessage,
} from '../model-serving/model-error.js'
import { BODY_ERRORS, errorResponses, IDENTITY_ERRORS } from '../openapi/errors.js'
import { openApiRouter } from '../validation.js'
import { writeLog } from './inference-logs.js'

/** The original app's default: long enough for a chat completion, short of a proxy's patience. */
export const DEFAULT_INVOKE_TIMEOUT_S = 30
/** The original app's bounds: at least a second, at most five minutes. */
export const MIN_INVOKE_TIMEOUT_S = 1
export const MAX_INVOKE_TIMEOUT_S = 300

/** Databricks serving endpoint names: letters, digits, dashes and underscores. */
const ENDPOINT_NAME = /^[A-Za-z0-9_-]+$/

export interface ModelServingRouteOptions {
  database: FunctionsDatabase
  /** The workspace's serving endpoints; undefined when no workspace is configured. */
  client: ServingClient | undefined
  /** Use `X-Forwarded-Access-Token` (only ever behind the Databricks Apps proxy). */
  trustForwardedHeaders: boolean
  logger: Logger
  now?: () => number
}

const endpointName = z
  .string()
  .min(1)
  .max(255)
  .regex(ENDPOINT_NAME, { message: 'letters, digits, - and _ only' })
  .openapi({ example: 'databricks-meta-llama-3-3-70b-instruct' })

const invokeBodySchema = z
  .object({
    endpoint_name: endpointName,
    inputs: z.record(z.string(), z.unknown(), { message: 'must be a JSON object' }).openapi({
      description:
        'The JSON body the endpoint expects, sent as is: e.g. `{"messages": […]}` for a chat model, `{"dataframe_records": […]}` for a custom model',
      example: { messages: [{ role: 'user', content: 'Hello' }] },
    }),
    timeout_seconds: z
      .number()
      .int()
      .min(MIN_INVOKE_TIMEOUT_S)
      .max(MAX_INVOKE_TIMEOUT_S)
      .default(DEFAULT_INVOKE_TIMEOUT_S),
  })
  .openapi('InvokeRequest')

const invocationSchema = z
  .object({
    request_id: z.string().openapi({ description: 'The inference log row’s request_id' }),
    endpoint_name: z.string(),
    status: z.literal('SUCCESS'),
    predictions: z.unknown().openapi({ description: "The endpoint's response JSON, as sent" }),
    execution_time_ms: z.number().int(),
    log_id: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'The inference log row; null if the log could not be written' }),
  })
  .openapi('Invocation')

const endpointSchema = z
  .object({
    name: z.string(),
    ready: z.boolean().openapi({ description: 'The endpoint accepts invocations' }),
    state: z.object({
      ready: z.string().nullable().openapi({ example: 'READY' }),
      config_update: z.string().nullable().openapi({ example: 'NOT_UPDATING' }),
    }),
    task: z.string().nullable().openapi({ example: 'llm/v1/chat' }),
  })
  .openapi('ServingEndpoint')

const MODEL_ERRORS = { 503: ['MODEL_UNAVAILABLE', 'MODEL_TIMEOUT'] } as const

/**
 * `POST /api/model-serving/invoke` and `GET /api/model-serving/endpoints`: Databricks model
 * serving as the signed-in user (their forwarded token, when trusted) or as the app. Every
 * invocation — success, error or timeout — is written to the user's inference logs.
 */
export function modelServingRoutes(options: ModelServingRouteOptions) {
  const { database, client, logger } = options
  const now = options.now ?? Date.now
  const userToken = (c: Context<IdentityEnv>) => {
    if (!options.trustForwardedHeaders) return undefined
    const token = c.req.header('x-forwarded-access-token')?.trim()
    if (!token) return undefined
    // Anything else could not even be sent on as `Authorization: Bearer …` (fetch refuses it).
    if (!isAccessToken(token)) {
      throw new LakebaseError(401, 'AUTH_REQUIRED', 'The forwarded access token is malformed', {
        technicalDetails: { header: 'X-Forwarded-Access-Token' },
      })
    }
    return token
  }

  /** Writes the log row; a failure to log must not turn the call's answer into an error. */
  const record = async (
    userId: string,
    row: Parameters<typeof writeLog>[2],
  ): Promise<number | null> => {
    try {
      return (await writeLog(database, userId, row)).log.id
    } catch (err) {
      logger.warn({ err: describe(err), request_id: row.request_id }, 'inference log not written')
      return null
    }
  }

  return openApiRouter<IdentityEnv>()
    .openapi(
      createRoute({
        method: 'post',
        path: '/invoke',
        summary: 'Call a serving endpoint and log the call',
        description:
          'Calls `POST {DATABRICKS_HOST}/serving-endpoints/{endpoint_name}/invocations` with `inputs` as the body, as the signed-in user (their `X-Forwarded-Access-Token`, behind the Databricks Apps proxy) or else as the app. Every call, whatever its outcome, is written to the inference logs; a timed-out call is logged `TIMEOUT`.',
        tags: ['model serving'],
        request: {
          body: { required: true, content: { 'application/json': { schema: invokeBodySchema } } },
        },
        responses: {
          200: {
            description: "The endpoint's answer",
            content: { 'application/json': { schema: invocationSchema } },
          },
          ...errorResponses(BODY_ERRORS, IDENTITY_ERRORS, MODEL_ERRORS),
        },
      }),
      async (c) => {
        const body = c.req.valid('json')
        const userId = c.get('user')
        const requestId = randomUUID()
        const call = { endpoint_name: body.endpoint_name, request_id: requestId }
        const startedAt = now()
        const invocation: Invocation | undefined = await client?.invoke(
          body.endpoint_name,
          body.inputs,
          { timeoutMs: body.timeout_seconds * 1000, userToken: userToken(c) },
        )
        const base = {
          request_id: requestId,
          endpoint_name: body.endpoint_name,
          inputs: body.inputs,
          created_at: new Date(startedAt),
          completed_at: new Date(now()),
        }
        if (invocation === undefined) {
          const logId = await record(userId, {
            ...base,
            status: 'ERROR',
            execution_time_ms: 0,
            error_message: NOT_CONFIGURED_MESSAGE,
          })
          throw modelServingNotConfigured({ ...call, log_id: logId })
        }
        const executionTimeMs = Math.round(invocation.durationMs)
        if (invocation.outcome === 'success') {
          const logId = await record(userId, {
            ...base,
            status: 'SUCCESS',
            predictions: invocation.predictions,
            execution_time_ms: executionTimeMs,
          })
          return c.json(
            {
              request_id: requestId,
              endpoint_name: body.endpoint_name,
              status: 'SUCCESS' as const,
              predictions: invocation.predictions,
              execution_time_ms: executionTimeMs,
              log_id: logId,
            },
            200,
          )
        }
        const timedOut = invocation.outcome === 'timeout'
        const message = timedOut
          ? timeoutMessage(body.endpoint_name, body.timeout_seconds)
          : invocation.error.message
        const logId = await record(userId, {
          ...base,
          status: timedOut ? 'TIMEOUT' : 'ERROR',
          execution_time_ms: executionTimeMs,
          error_message: message,
        })
        throw modelFailure(invocation.error, { details: { ...call, log_id: logId }, message })
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/endpoints',
        summary: "The workspace's serving endpoints and whether each is ready",
        tags: ['model serving'],
        responses: {
          200: {
            description: 'Every endpoint the caller may see',
            content: {
              'application/json': {
                schema: z.object({ endpoints: z.array(endpointSchema) }),
              },
            },
          },
          ...errorResponses(IDENTITY_ERRORS, MODEL_ERRORS),
        },
      }),
      async (c) => {
        if (client === undefined) throw modelServingNotConfigured()
        const token = userToken(c)
        try {
          return c.json({ endpoints: await client.listEndpoints({ userToken: token }) }, 200)
        } catch (err) {
          throw modelFailure(toUpstreamError(err))
        }
      },
    )
}
