import { createFunctionsApp } from '../functions/create-app.js'
import type { FunctionsDatabase } from '../functions/db/database.js'
import { migrationStatus } from '../functions/db/migration-status.js'
import type { BrokerCredentials } from '../shared/client/broker-client.js'
import { sqlstateOf } from '../shared/client/sqlstate.js'
import type { ServingClient } from '../shared/databricks/serving-client.js'
import { servingClientFromSettings } from '../shared/databricks/serving-connect.js'
import { listen } from '../shared/process/http-server.js'
import type { Logger } from '../shared/process/logger.js'
import type { FunctionsConfig } from './functions-config.js'

export interface ServedFunctions {
  url: string
  modelServing: ServingClient | undefined
  /** Stops accepting requests, lets open ones finish, then closes the pool. */
  close(): Promise<void>
}

/**
 * The functions on the Node host, over broker credentials: the pool, model serving (signed in as
 * the broker signs in), the app, and its listening server. `npm run functions`, `npm start` and
 * `npm run serve` all run them this way.
 */
export async function serveFunctions(options: {
  credentials: BrokerCredentials
  config: FunctionsConfig
  logger: Logger
}): Promise<ServedFunctions> {
  const { credentials, config, logger } = options
  const modelServing = await servingClientFromSettings(config.workspace)
  const functions = createFunctionsApp({
    credentials,
    logger,
    modelServing,
    sslMode: config.sslMode,
    trustForwardedHeaders: config.trustForwardedHeaders,
    devUser: config.devUser,
    preferenceKeys: config.preferenceKeys,
    poolMax: config.poolMax,
    statementTimeoutMs: config.statementTimeoutMs,
    idleInTransactionTimeoutMs: config.idleInTransactionTimeoutMs,
    // Resolved above, from the command's environment: nothing more to read.
    env: {},
  })
  const { database } = functions
  try {
    const server = await listen(functions.app.fetch, {
      kind: 'tcp',
      host: config.host,
      port: config.port,
    })
    void warnIfMigrationsPending(database, logger)
    return {
      url: server.url,
      modelServing,
      async close() {
        await server.close()
        await functions.close()
      },
    }
  } catch (err) {
    await functions.close()
    throw err
  }
}

/**
 * Warns once, at start-up, when the database lacks migrations: every request would otherwise
 * answer 503 DATABASE_NOT_MIGRATED without the operator seeing why. A database that cannot be
 * reached yet is no reason to warn (the health route says so); the check never blocks serving.
 */
export async function warnIfMigrationsPending(
  database: FunctionsDatabase,
  logger: Logger,
): Promise<void> {
  try {
    const status = await migrationStatus(await database.sql())
    const pending = status.known - status.applied
    if (pending > 0) {
      logger.warn(
        { applied: status.applied, pending },
        'migrations are pending: run `npm run migrate` (or `npx lakebase-broker migrate`)',
      )
    }
  } catch (err) {
    logger.debug({ code: sqlstateOf(err) }, 'migration status unknown at start-up')
  }
}
