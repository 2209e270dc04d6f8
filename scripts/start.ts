import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { startBroker } from '../broker/broker.js'
import { ConfigError, chooseProvider, resolveBrokerConfig } from '../broker/config.js'
import { DEFAULT_EMBEDDED_TOKEN_TTL_S, EmbeddedProvider } from '../broker/providers/embedded.js'
import { DEFAULT_DEV_USER, resolveFunctionsConfig } from '../functions/config.js'
import { serveFunctions } from '../functions/serve.js'
import { brokerCredentials } from '../shared/broker-client.js'
import { migrateViaBroker } from '../shared/db/migrate-via-broker.js'
import { envValue, loadEnv } from '../shared/env.js'
import { AppError } from '../shared/errors.js'
import { exitWith } from '../shared/exit.js'
import { createLogger } from '../shared/logger.js'
import {
  DEFAULT_EMBEDDED_PORT,
  type RunningEmbeddedPostgres,
  startEmbeddedPostgres,
} from './embedded-postgres.js'

const HELP = `Usage: npm start [-- --help]

Runs everything: with nothing configured, an embedded Postgres (data in .lakebase/), the broker
with the embedded provider (Lakebase-like JWT passwords that rotate), the migrations, and the
functions. With DATABRICKS_HOST (or .env.local naming a Lakebase instance) it uses the real
workspace and starts no embedded database. Ctrl-C stops everything.

  LAKEBASE_EMBEDDED_PORT         embedded Postgres port (54320, loopback only)
  LAKEBASE_EMBEDDED_TOKEN_TTL_S  lifetime of each embedded token (3600)
  LAKEBASE_STATE_DIR             where the embedded data lives (.lakebase)
  PORT                           the functions' port (8000); BROKER_PORT the broker's (8990)
See README.md for every setting.`

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    console.log(HELP)
    return
  }
  const env = loadEnv()
  const logger = createLogger({ name: 'start', level: envValue(env, 'LOG_LEVEL') ?? 'warn' })
  const functionsConfig = resolveFunctionsConfig(env)
  const brokerConfig = resolveBrokerConfig(env, { fallbackProvider: 'embedded' })
  const stack: { name: string; stop: () => Promise<unknown> }[] = []
  const stopAll = async () => {
    for (const part of stack.reverse()) {
      await part
        .stop()
        .catch((err: unknown) => console.error(`start: stopping ${part.name} failed:`, String(err)))
    }
  }
  let stopping = false
  const onSignal = async () => {
    if (stopping) process.exit(1)
    stopping = true
    console.log('\nstopping…')
    await stopAll()
    process.exit(0)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    let embedded: RunningEmbeddedPostgres | undefined
    if (chooseProvider(env, 'embedded') === 'embedded') {
      const port = Number(envValue(env, 'LAKEBASE_EMBEDDED_PORT') ?? DEFAULT_EMBEDDED_PORT)
      embedded = await startEmbeddedPostgres({
        dir: resolve(envValue(env, 'LAKEBASE_STATE_DIR') ?? '.lakebase'),
        port,
        logger,
      })
      const pg = embedded
      stack.push({ name: 'embedded Postgres', stop: () => pg.stop() })
    }
    const pg = embedded
    const broker = await startBroker({
      config: brokerConfig,
      logger: logger.child({ name: 'broker' }),
      providers: pg
        ? {
            embedded: (targetEnv, { clock }) =>
              new EmbeddedProvider({
                admin: pg.admin,
                host: pg.host,
                port: pg.port,
                database: pg.database,
                user: envValue(targetEnv, 'LAKEBASE_DEV_USER') ?? DEFAULT_DEV_USER,
                tokenTtlS: Number(
                  envValue(targetEnv, 'LAKEBASE_EMBEDDED_TOKEN_TTL_S') ??
                    DEFAULT_EMBEDDED_TOKEN_TTL_S,
                ),
                clock,
              }),
          }
        : undefined,
    })
    stack.push({ name: 'broker', stop: () => broker.close() })

    const token =
      envValue(env, 'LAKEBASE_BROKER_TOKEN') ??
      broker.clients.find(
        (c) => c.targets === '*' || c.targets.includes(functionsConfig.brokerTarget),
      )?.token
    const credentials = brokerCredentials({
      url: broker.url,
      token,
      target: functionsConfig.brokerTarget,
    })
    const migrated = await migrateViaBroker(credentials, functionsConfig.sslMode)

    const functions = await serveFunctions({
      credentials,
      config: functionsConfig,
      logger: logger.child({ name: 'functions' }),
    })
    stack.push({ name: 'functions', stop: () => functions.close() })

    const source = pg
      ? `embedded Postgres ${pg.host}:${pg.port}/${pg.database} (data in .lakebase/)`
      : 'Databricks workspace'
    console.log(
      [
        'Lakebase stack is running',
        `  functions  ${functions.url}/api/health`,
        `  broker     ${broker.url}/readyz`,
        `  database   ${source}, ${migrated.total} migration(s), logged in as ${migrated.user}`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    )
  } catch (err) {
    await stopAll()
    throw err
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    exitWith(1, [`start: ${err.message}`, ...(err.suggestion ? [`  fix: ${err.suggestion}`] : [])])
  }
  if (err instanceof AppError) exitWith(1, [`start: ${err.code}: ${err.message}`])
  exitWith(1, [`start: ${err instanceof Error ? err.message : String(err)}`])
})
