import { parseArgs } from 'node:util'
import { resolveFunctionsConfig } from '../functions/config.js'
import { brokerCredentials } from '../shared/broker-client.js'
import { clientBrokerToken } from '../shared/broker-token.js'
import { migrateViaBroker } from '../shared/db/migrate-via-broker.js'
import { loadEnv } from '../shared/env.js'
import { AppError } from '../shared/errors.js'
import { exitWith } from '../shared/exit.js'

const HELP = `Usage: npm run migrate [-- --help]

Applies the migrations in migrations/ through the broker's credentials, then exits.
Reads LAKEBASE_BROKER_URL, LAKEBASE_BROKER_TOKEN (else the broker's token file), PGSSLMODE.
A database the Python app created (Alembic revisions 001-003) is adopted in place.`

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  const env = loadEnv()
  const config = resolveFunctionsConfig(env)
  const credentials = brokerCredentials({
    url: config.brokerUrl,
    token: await clientBrokerToken(env),
    target: config.brokerTarget,
  })
  const result = await migrateViaBroker(credentials, config.sslMode)
  console.log(
    `migrate: ${result.applied} migration(s) applied, ${result.total} in all, on ${result.database} at ${result.host} as ${result.user}`,
  )
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof AppError) {
      const suggestion = err.technicalDetails.suggestion
      exitWith(1, [
        `migrate: ${err.code}: ${err.message}`,
        ...(typeof suggestion === 'string' ? [`  fix: ${suggestion}`] : []),
      ])
    }
    exitWith(1, [`migrate: failed: ${err instanceof Error ? err.message : String(err)}`])
  },
)
