import { connectBroker } from '../../shared/client/broker-client.js'
import { clientBrokerToken } from '../../shared/client/broker-token.js'
import { type Command, runIfEntry } from '../../shared/process/run-main.js'
import { functionsCommandSettings, resolveFunctionsConfig } from '../functions-config.js'
import { serveFunctions } from '../serve-functions.js'

/** `lakebase-broker functions`: the functions (Node host) on a running broker's credentials. */
export const command: Command<typeof functionsCommandSettings> = {
  name: 'functions',
  help: `Usage: $0 [--help]

Serves the functions (Hono, Node host) at PORT (else DATABRICKS_APP_PORT, else 8000),
reading Postgres credentials from a running broker at LAKEBASE_BROKER_URL.`,
  settings: functionsCommandSettings,
  telemetry: true,
  async start({ env, logger, defer }) {
    const config = resolveFunctionsConfig(env)
    const credentials = connectBroker({
      url: config.brokerUrl,
      token: await clientBrokerToken(env),
      target: config.brokerTarget,
    })
    const functions = await serveFunctions({ credentials, config, logger })
    defer('functions', () => functions.close())
    logger.info(
      {
        url: functions.url,
        broker: config.brokerUrl,
        modelServing: functions.modelServing?.host ?? null,
      },
      'functions listening',
    )
    return undefined
  },
}

runIfEntry(import.meta.url, command)
