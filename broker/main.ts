import { type Command, runIfEntry } from '../shared/process/run-main.js'
import { startBrokerFromConfig } from './broker.js'
import { brokerCommandSettings, resolveBrokerConfig } from './config.js'

/** `lakebase-broker broker`: the credential broker alone, configured from the environment. */
export const command: Command<typeof brokerCommandSettings> = {
  name: 'broker',
  help: `Usage: $0 [--pgbouncer] [--help]

Runs the Lakebase credential broker: obtains Postgres credentials from a provider, caches
them, refreshes them before they expire, and serves them to local services at
GET /v1/credentials[/{target}] (Authorization: Bearer <client token>).
--pgbouncer (BROKER_PGBOUNCER=true) also runs PgBouncer, kept logged in: one local endpoint
for any Postgres client.

Signals: SIGTERM drains (readiness 503) for BROKER_DRAIN_S, then exits; SIGINT exits at once.`,
  settings: brokerCommandSettings,
  telemetry: true,
  options: { pgbouncer: { type: 'boolean' } },
  async start({ env, args, logger, defer, drainOnSigterm }) {
    const config = resolveBrokerConfig(
      args.values.pgbouncer ? { ...env, BROKER_PGBOUNCER: 'true' } : env,
    )
    const broker = await startBrokerFromConfig({ config, logger })
    defer('broker', () => broker.close())
    drainOnSigterm(config.drainMs, () => broker.drain())
    return undefined
  },
}

runIfEntry(import.meta.url, command)
