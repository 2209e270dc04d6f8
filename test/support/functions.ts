import type { RunningBroker } from '../../broker/broker.js'
import { DEFAULT_PREFERENCE_KEYS } from '../../cli/functions-config.js'
import { buildFunctionsApp, type FunctionsAppOptions } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { type BrokerCredentials, connectBroker } from '../../shared/client/broker-client.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from './broker.js'
import { captureLogs } from './capture-logs.js'
import { createTestDatabase, type TestDatabase } from './postgres.js'

/** A request to the functions as `user` (sent as X-Forwarded-Email; trusted by default). */
export type CallFunctions = (
  method: string,
  path: string,
  options?: { user?: string | null; body?: unknown; headers?: Record<string, string> },
) => Promise<Response>

/** One functions process: its broker client, its pool, the app on them, and its logs. */
export interface FunctionsProcess {
  credentials: BrokerCredentials
  database: FunctionsDatabase
  app: ReturnType<typeof buildFunctionsApp>
  logs: ReturnType<typeof captureLogs>
}

/**
 * The functions as one process runs them on the broker at `brokerUrl`: a broker client, a pool of
 * `max` connections, and the app, which trusts X-Forwarded-Email; its logs are captured as `name`.
 * Closing the pool is the caller's.
 */
export function functionsProcess(options: {
  brokerUrl: string
  max: number
  name?: string
}): FunctionsProcess {
  const credentials = connectBroker({ url: options.brokerUrl, token: TEST_CLIENT_TOKEN })
  const logs = captureLogs(options.name ?? 'functions')
  const database = new FunctionsDatabase({ credentials, logger: logs.logger, max: options.max })
  const app = buildFunctionsApp({
    database,
    credentials,
    logger: logs.logger,
    trustForwardedHeaders: true,
    devUser: 'dev-user@example.com',
    preferenceKeys: DEFAULT_PREFERENCE_KEYS,
  })
  return { credentials, database, app, logs }
}

/** What a test may set on the app besides its database, broker and logger. */
export type FunctionsStackOptions = Partial<
  Pick<FunctionsAppOptions, 'trustForwardedHeaders' | 'preferenceKeys' | 'modelServing' | 'now'>
>

export interface FunctionsStack {
  db: TestDatabase
  broker: RunningBroker
  database: FunctionsDatabase
  app: ReturnType<typeof buildFunctionsApp>
  logs: ReturnType<typeof captureLogs>
  call: CallFunctions
  /** Another app on the same database, broker and logs, with some options changed. */
  variant(overrides: FunctionsStackOptions): { app: FunctionsStack['app']; call: CallFunctions }
  close(): Promise<void>
}

/**
 * The functions on a migrated real Postgres database, with credentials from a real broker over
 * loopback HTTP (static provider: the test server's superuser).
 */
export async function startFunctionsStack(
  options: FunctionsStackOptions = {},
): Promise<FunctionsStack> {
  const db = await createTestDatabase('fn')
  await runMigrations(db.sql)
  const { broker } = await startTestBroker(staticBrokerEnv(db))
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const logs = captureLogs('functions')
  const database = new FunctionsDatabase({ credentials, logger: logs.logger, max: 5 })
  const build = (overrides: FunctionsStackOptions) => {
    const app = buildFunctionsApp({
      database,
      credentials,
      logger: logs.logger,
      devUser: 'dev-user@example.com',
      ...options,
      ...overrides,
      trustForwardedHeaders:
        overrides.trustForwardedHeaders ?? options.trustForwardedHeaders ?? true,
      preferenceKeys: overrides.preferenceKeys ?? options.preferenceKeys ?? DEFAULT_PREFERENCE_KEYS,
    })
    const call: CallFunctions = async (
      method,
      path,
      { user = 'alice@example.com', body, headers = {} } = {},
    ) => {
      const h: Record<string, string> = { ...headers }
      if (user !== null) h['x-forwarded-email'] = user
      if (body !== undefined) h['content-type'] ??= 'application/json'
      return app.request(path, {
        method,
        headers: h,
        body:
          body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
    }
    return { app, call }
  }
  const { app, call } = build({})
  return {
    db,
    broker,
    database,
    app,
    logs,
    call,
    variant: build,
    async close() {
      await database.close()
      await broker.close()
      await db.drop()
    },
  }
}
