import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { requestId } from 'hono/request-id'
import type { BrokerCredentials } from '../shared/broker-client.js'
import type { Database } from '../shared/db/database.js'
import { errorHandler, notFoundHandler } from '../shared/error-handler.js'
import { AppError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { type IdentityEnv, identity } from './middleware/identity.js'
import { healthRoutes } from './routes/health.js'
import { inferenceLogRoutes, modelServingLogRoutes } from './routes/inference-logs.js'
import { MAX_PREFERENCE_VALUE_BYTES, preferencesRoutes } from './routes/preferences.js'

/** Room for the largest preference value plus its envelope; anything bigger is refused unread. */
export const BODY_LIMIT_BYTES = MAX_PREFERENCE_VALUE_BYTES + 10 * 1024
/** Request ids from clients are echoed back; only short, plain ones are taken. */
const MAX_REQUEST_ID_LENGTH = 100

export interface FunctionsAppOptions {
  database: Database
  credentials: BrokerCredentials
  logger: Logger
  trustForwardedHeaders: boolean
  devUser: string
  preferenceKeys: readonly string[]
  now?: () => number
}

/** The functions: stateless Hono handlers over broker-backed Postgres, under `/api`. */
export function createFunctionsApp(options: FunctionsAppOptions) {
  const { database, credentials, logger } = options
  const app = new Hono<IdentityEnv>()
  app.use(requestId({ limitLength: MAX_REQUEST_ID_LENGTH }))
  app.use(
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new AppError(
          413,
          'PAYLOAD_TOO_LARGE',
          `The request body is over ${BODY_LIMIT_BYTES} bytes`,
        )
      },
    }),
  )
  app.route('/api/health', healthRoutes(database, credentials, options.now))
  const user = identity({
    trustForwardedHeaders: options.trustForwardedHeaders,
    devUser: options.devUser,
  })
  app.use('/api/preferences/*', user)
  app.use('/api/preferences', user)
  app.use('/api/inference-logs/*', user)
  app.use('/api/inference-logs', user)
  app.use('/api/model-serving/*', user)
  app.route('/api/preferences', preferencesRoutes(database, options.preferenceKeys))
  app.route('/api/inference-logs', inferenceLogRoutes(database))
  app.route('/api/model-serving', modelServingLogRoutes(database))
  app.notFound(notFoundHandler())
  app.onError(errorHandler(logger))
  return app
}
