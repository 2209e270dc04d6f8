import { bodyLimit } from 'hono/body-limit'
import type { BrokerCredentials } from 'lakebase-broker'
import { LakebaseError } from 'lakebase-broker'
import {
  type IdentityEnv,
  identity,
  type Logger,
  lakebaseErrorHandler,
  lakebaseNotFound,
  nodeHeaders,
} from 'lakebase-broker/hono'
import type { ServingClient } from 'lakebase-broker/workspace'
import type { FunctionsDatabase } from './db/database.js'
import { DOCS_PATH, docsRoutes, OPENAPI_PATH } from './docs/swagger-ui.js'
import { FunctionsMetrics } from './metrics.js'
import { requestIds } from './middleware/request-id.js'
import { storableInput } from './middleware/storable-input.js'
import { errorBodySchema } from './openapi/errors.js'
import { healthRoutes } from './routes/health.js'
import { inferenceLogRoutes, modelServingLogRoutes } from './routes/inference-logs.js'
import { modelServingRoutes } from './routes/model-serving.js'
import { MAX_PREFERENCE_VALUE_BYTES, preferencesRoutes } from './routes/preferences.js'
import { openApiRouter } from './validation.js'

/** Room for the largest preference value plus its envelope; anything bigger is refused unread. */
export const BODY_LIMIT_BYTES = MAX_PREFERENCE_VALUE_BYTES + 10 * 1024
/** Request ids from clients are echoed back; only short, plain ones are taken. */
const MAX_REQUEST_ID_LENGTH = 100
/** The version of the HTTP API the OpenAPI document describes (the contract's, not the package's). */
export const API_VERSION = '1.0.0'

const API_DESCRIPTION = `Stateless functions over Lakebase Postgres, with credentials from the broker.

**Identity.** Behind the Databricks Apps proxy (\`TRUST_FORWARDED_HEADERS=true\`) the user is \`X-Forwarded-Email\` (then \`X-Forwarded-User\`), set by the proxy; elsewhere every request is \`LAKEBASE_DEV_USER\`. Every read and write is scoped to that user.

**Errors** share one body, \`{"detail": {"error_code", "message", "technical_details", "retry_after"}}\`; each route lists the codes it can answer with. A 503 with \`retry_after\` set is worth retrying after that many seconds.`

export interface FunctionsAppOptions {
  database: FunctionsDatabase
  credentials: BrokerCredentials
  logger: Logger
  trustForwardedHeaders: boolean
  devUser: string
  preferenceKeys: readonly string[]
  /** Databricks model serving; without it the model-serving calls answer 503 MODEL_UNAVAILABLE. */
  modelServing?: ServingClient | undefined
  now?: () => number
}

/**
 * The functions: stateless Hono handlers over broker-backed Postgres, under `/api`, described
 * by the OpenAPI document at `/api/openapi.json` (built from the schemas that validate the
 * requests) and browsable at `/api/docs`.
 */
export function buildFunctionsApp(options: FunctionsAppOptions) {
  const { database, credentials, logger } = options
  const app = openApiRouter<IdentityEnv>()
  // First, so it times every request; `/metrics` needs no identity and holds no user data.
  const metrics = new FunctionsMetrics(database)
  app.use(metrics.middleware())
  app.get('/metrics', metrics.handler())
  // Every header read after this one (validators included) from Node's parsed headers, with no
  // WHATWG Headers built per request (see BENCHMARKS.md).
  app.use(nodeHeaders())
  app.use(requestIds({ maxLength: MAX_REQUEST_ID_LENGTH }))
  const limitBody = bodyLimit({
    maxSize: BODY_LIMIT_BYTES,
    onError: () => {
      throw new LakebaseError(
        413,
        'PAYLOAD_TOO_LARGE',
        `The request body is over ${BODY_LIMIT_BYTES} bytes`,
      )
    },
  })
  // Only for methods with a body: bodyLimit builds a full WHATWG Request on @hono/node-server,
  // which cost every GET 5 % of its CPU (see BENCHMARKS.md).
  app.use(async function limitBodies(c, next) {
    return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)
  })
  app.use(storableInput())
  app.route('/api/health', healthRoutes(database, credentials, options.now))
  const user = identity({
    trustForwardedHeaders: options.trustForwardedHeaders,
    devUser: options.devUser,
  })
  // `/x/*` matches `/x` itself too: one pattern a prefix, or the rule runs twice a request.
  app.use('/api/preferences/*', user)
  app.use('/api/inference-logs/*', user)
  app.use('/api/model-serving/*', user)
  app.route('/api/preferences', preferencesRoutes(database, options.preferenceKeys))
  app.route('/api/inference-logs', inferenceLogRoutes(database))
  app.route('/api/model-serving', modelServingLogRoutes(database))
  app.route(
    '/api/model-serving',
    modelServingRoutes({
      database,
      client: options.modelServing,
      trustForwardedHeaders: options.trustForwardedHeaders,
      logger,
      now: options.now,
    }),
  )
  app.openAPIRegistry.register('ErrorBody', errorBodySchema)
  app.doc31(OPENAPI_PATH, {
    openapi: '3.1.0',
    info: { title: 'Lakebase functions', version: API_VERSION, description: API_DESCRIPTION },
  })
  app.route(DOCS_PATH, docsRoutes())
  app.notFound(lakebaseNotFound())
  app.onError(lakebaseErrorHandler({ logger }))
  return app
}
