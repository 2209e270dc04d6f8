import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { clientBrokerToken } from '../../shared/client/broker-token.js'
import { brokerClientSettings, tlsSettings } from '../../shared/process/common-settings.js'
import { type Command, EXIT_OK, runIfEntry } from '../../shared/process/run-main.js'

const settings = { ...brokerClientSettings, ...tlsSettings }

/** `lakebase-broker migrate`: the migrations through the broker's credentials, then exit. */
export const command: Command<typeof settings> = {
  name: 'migrate',
  help: `Usage: $0 [--help]

Applies the migrations in migrations/ through the broker's credentials, then exits.
A database the Python app created (Alembic revisions 001-003) is adopted in place.`,
  settings,
  logLevel: 'warn',
  async start({ env, settings: s, out }) {
    const credentials = connectBroker({
      url: s.LAKEBASE_BROKER_URL,
      token: await clientBrokerToken(env),
      target: s.LAKEBASE_BROKER_TARGET,
    })
    const result = await migrateViaBroker(credentials, s.PGSSLMODE)
    out(
      `migrate: ${result.applied} migration(s) applied, ${result.total} in all, on ${result.database} at ${result.host} as ${result.user}`,
    )
    return EXIT_OK
  },
}

runIfEntry(import.meta.url, command)
