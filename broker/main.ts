import { parseArgs } from 'node:util'
import { loadEnv } from '../shared/env.js'
import { describe } from '../shared/error-handler.js'
import { exitWith } from '../shared/exit.js'
import { createLogger } from '../shared/logger.js'
import { startBroker } from './broker.js'
import { ConfigError, resolveBrokerConfig } from './config.js'

/**
 * After SIGTERM the broker keeps answering for this long with `/readyz` at 503, so that an
 * orchestrator stops routing to it before it goes away; `BROKER_DRAIN_S`. Ctrl-C skips it.
 */
const DEFAULT_DRAIN_MS = 2_000

const HELP = `Usage: npm run broker [-- --help]

Runs the Lakebase credential broker: obtains Postgres credentials from a provider, caches
them, refreshes them before they expire, and serves them to local services at
GET /v1/credentials[/{target}] (Authorization: Bearer <client token>).

Configured from the environment and .env.local (environment wins):
  LAKEBASE_PROVIDER        databricks | static | command (chosen from the variables below if unset)
  DATABRICKS_HOST          workspace URL; with LAKEBASE_INSTANCE_NAME or LAKEBASE_ENDPOINT
  PGHOST PGUSER PGPASSWORD a Postgres with a fixed password (static provider)
  LAKEBASE_CREDENTIAL_COMMAND  a program printing the credential JSON (command provider)
  BROKER_HOST BROKER_PORT  where to listen (127.0.0.1:8990), or BROKER_SOCKET (a unix socket)
  BROKER_TOKEN             the client token, else BROKER_TOKEN_FILE (generated on first start)
  BROKER_CONFIG            JSON file with more targets and per-client tokens
  BROKER_REFRESH_FRACTION  refresh at this share of the lifetime (0.5)
  BROKER_MIN_TTL_S         never hand out a credential with less left (15)
  BROKER_OUTAGE_BUDGET_S   refresh early enough to ride out an upstream outage this long (unset)
See README.md for every setting.

Signals: SIGTERM drains (readiness 503) for BROKER_DRAIN_S (2) then exits; SIGINT exits at once.`

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    console.log(HELP)
    return
  }
  const env = loadEnv()
  const config = resolveBrokerConfig(env)
  const logger = createLogger({ name: 'broker', level: config.logLevel })
  const broker = await startBroker({ config, logger })
  const drainMs = Number(env.BROKER_DRAIN_S ?? DEFAULT_DRAIN_MS / 1000) * 1000

  let stopping = false
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1)
    stopping = true
    broker.drain()
    logger.info({ signal }, 'shutting down')
    if (signal === 'SIGTERM' && drainMs > 0) await new Promise((r) => setTimeout(r, drainMs))
    await broker.close()
    logger.flush()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    exitWith(2, [`broker: ${err.message}`, ...(err.suggestion ? [`  fix: ${err.suggestion}`] : [])])
  }
  exitWith(1, [`broker: failed to start: ${JSON.stringify(describe(err))}`])
})
