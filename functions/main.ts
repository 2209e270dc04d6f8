import { parseArgs } from 'node:util'
import { brokerCredentials } from '../shared/broker-client.js'
import { clientBrokerToken } from '../shared/broker-token.js'
import { loadEnv } from '../shared/env.js'
import { describe } from '../shared/error-handler.js'
import { exitWith } from '../shared/exit.js'
import { createLogger } from '../shared/logger.js'
import { resolveFunctionsConfig } from './config.js'
import { serveFunctions } from './serve.js'

const HELP = `Usage: npm run functions [-- --help]

Serves the functions (Hono, Node host) at PORT (else DATABRICKS_APP_PORT, else 8000),
reading Postgres credentials from a running broker:
  LAKEBASE_BROKER_URL      http://127.0.0.1:8990 (or unix:/path)
  LAKEBASE_BROKER_TOKEN    the client token (else the broker's token file)
  PGSSLMODE                require (default) | disable | verify-full
  TRUST_FORWARDED_HEADERS  take the user from X-Forwarded-Email (default: only in Databricks Apps)
  LAKEBASE_DEV_USER        the user otherwise (dev-user@example.com)
  PREFERENCE_KEYS          allowed preference keys (dashboard_layout,favorite_tables,theme)
  DATABRICKS_HOST          workspace for model serving (auth as the broker's: DATABRICKS_TOKEN, …)
See README.md for every setting.`

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    console.log(HELP)
    return
  }
  const env = loadEnv()
  const config = resolveFunctionsConfig(env)
  const logger = createLogger({ name: 'functions', level: config.logLevel })
  const credentials = brokerCredentials({
    url: config.brokerUrl,
    token: await clientBrokerToken(env),
    target: config.brokerTarget,
  })
  const functions = await serveFunctions({ credentials, config, logger })
  logger.info(
    {
      url: functions.url,
      broker: config.brokerUrl,
      modelServing: functions.modelServing?.host ?? null,
    },
    'functions listening',
  )

  let stopping = false
  const stop = async () => {
    if (stopping) process.exit(1)
    stopping = true
    await functions.close()
    logger.flush()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: unknown) => {
  exitWith(1, [`functions: failed to start: ${JSON.stringify(describe(err))}`])
})
