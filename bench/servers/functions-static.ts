import { resolveFunctionsConfig } from '../../cli/functions-config.js'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import type { BrokerCredentials } from '../../shared/client/broker-client.js'
import type { Credential } from '../../shared/client/credential.js'
import { createLogger } from '../../shared/process/logger.js'
import { required, serveBench } from './serve.js'

/**
 * The functions exactly as cli/commands/functions.ts builds them, except that the credentials are a fixed
 * password held in memory (`BENCH_STATIC_CREDENTIAL`) instead of the broker client: the baseline
 * that isolates what asking the broker costs a request.
 */
function staticCredentials(credential: Credential): BrokerCredentials {
  return {
    target: credential.target,
    get: async () => credential,
    current: () => credential,
    password: async () => credential.password,
    forget() {},
  }
}

const config = resolveFunctionsConfig(process.env)
const logger = createLogger({ name: 'functions', level: config.logLevel })
const credentials = staticCredentials(JSON.parse(required('BENCH_STATIC_CREDENTIAL')))
const database = new FunctionsDatabase({
  credentials,
  sslMode: config.sslMode,
  max: config.poolMax,
  logger,
})
const app = buildFunctionsApp({ database, credentials, logger, ...config })
await serveBench(app.fetch, () => database.close())
