import { buildFunctionsApp } from '../functions/app.js'
import type { FunctionsConfig } from '../functions/config.js'
import { servingClientFromSettings } from '../functions/model-serving/connect.js'
import type { ServingClient } from '../functions/model-serving/serving-client.js'
import type { BrokerCredentials } from '../shared/broker-client.js'
import { Database } from '../shared/db/database.js'
import { migrationStatus } from '../shared/db/migration-status.js'
import { codeOf } from '../shared/db/sqlstate.js'
import { listen } from '../shared/http-server.js'
import type { Logger } from '../shared/logger.js'

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
  const database = new Database({
    credentials,
    sslMode: config.sslMode,
    max: config.poolMax,
    statementTimeoutMs: config.statementTimeoutMs,
    idleInTransactionTimeoutMs: config.idleInTransactionTimeoutMs,
    logger,
  })
  try {
    const modelServing = await servingClientFromSettings(config.workspace)
    const app = buildFunctionsApp({ database, credentials, logger, modelServing, ...config })
    const server = await listen(app.fetch, { kind: 'tcp', host: config.host, port: config.port })
    void warnIfMigrationsPending(database, logger)
    return {
      url: server.url,
      modelServing,
      async close() {
        await server.close()
        await database.close()
      },
    }
  } catch (err) {
    await database.close()
    throw err
  }
}

/**
 * Warns once, at start-up, when the database lacks migrations: every request would otherwise
 * answer 503 DATABASE_NOT_MIGRATED without the operator seeing why. A database that cannot be
 * reached yet is no reason to warn (the health route says so); the check never blocks serving.
 */
export async function warnIfMigrationsPending(database: Database, logger: Logger): Promise<void> {
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
    logger.debug({ code: codeOf(err) }, 'migration status unknown at start-up')
  }
}
