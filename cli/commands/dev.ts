import { resolve } from 'node:path'
import { z } from 'zod'
import { startBrokerFromConfig } from '../../broker/broker.js'
import { brokerCommandSettings, chooseProvider, resolveBrokerConfig } from '../../broker/config.js'
import { DEFAULT_EMBEDDED_TOKEN_TTL_S, EmbeddedProvider } from '../../broker/providers/embedded.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { portSchema } from '../../shared/process/common-settings.js'
import { type Command, runIfEntry } from '../../shared/process/run-main.js'
import {
  numberSetting,
  parseSettings,
  type Settings,
  setting,
} from '../../shared/process/settings.js'
import { DEFAULT_EMBEDDED_PORT, startEmbeddedPostgres } from '../embedded-postgres.js'
import {
  functionsCommandSettings,
  functionsSettings,
  resolveFunctionsConfig,
} from '../functions-config.js'
import { serveFunctions } from '../serve-functions.js'

/** What the embedded provider reads from a target's environment. */
const embeddedTargetSettings = {
  LAKEBASE_EMBEDDED_TOKEN_TTL_S: setting(
    numberSetting().positive('must be more than 0 seconds').default(DEFAULT_EMBEDDED_TOKEN_TTL_S),
    'lifetime of each embedded JWT password',
  ),
  LAKEBASE_DEV_USER: functionsSettings.LAKEBASE_DEV_USER,
} satisfies Settings

/** The settings only `npm start` (`lakebase-broker dev`) reads. */
export const devSettings = {
  LAKEBASE_EMBEDDED_PORT: setting(
    portSchema.min(1).default(DEFAULT_EMBEDDED_PORT),
    'the embedded Postgres (loopback only)',
  ),
  LAKEBASE_EMBEDDED_TOKEN_TTL_S: embeddedTargetSettings.LAKEBASE_EMBEDDED_TOKEN_TTL_S,
  LAKEBASE_STATE_DIR: setting(
    z.string().default('.lakebase'),
    'where the embedded data lives (git-ignored)',
  ),
} satisfies Settings

const settings = {
  ...brokerCommandSettings,
  ...functionsCommandSettings,
  ...devSettings,
} satisfies Settings

/** `lakebase-broker dev` (`npm start`): everything, on an embedded Postgres when none is named. */
export const command: Command<typeof settings> = {
  name: 'dev',
  help: `Usage: $0 [--help]

Runs everything: with nothing configured, an embedded Postgres (data in .lakebase/), the broker
with the embedded provider (Lakebase-like JWT passwords that rotate), the migrations, and the
functions. With DATABRICKS_HOST (or .env.local naming a Lakebase instance) it uses the real
workspace and starts no embedded database. Ctrl-C stops everything; so does the end of the
process that started it (a terminal closed, npm killed).`,
  settings,
  logLevel: 'warn',
  exitWithParent: true,
  async start({ env, settings: s, logger, defer, out }) {
    const functionsConfig = resolveFunctionsConfig(env)
    const brokerConfig = resolveBrokerConfig(env, { fallbackProvider: 'embedded' })

    const pg =
      chooseProvider(env, 'embedded') === 'embedded'
        ? await startEmbeddedPostgres({
            dir: resolve(s.LAKEBASE_STATE_DIR),
            port: s.LAKEBASE_EMBEDDED_PORT,
            logger,
          })
        : undefined
    if (pg) defer('embedded Postgres', () => pg.stop())
    const broker = await startBrokerFromConfig({
      config: brokerConfig,
      logger: logger.child({ name: 'broker' }),
      providers: pg
        ? {
            embedded: (targetEnv, { clock }) => {
              const t = parseSettings(embeddedTargetSettings, targetEnv)
              return new EmbeddedProvider({
                admin: pg.admin,
                host: pg.host,
                port: pg.port,
                database: pg.database,
                user: t.LAKEBASE_DEV_USER,
                tokenTtlS: t.LAKEBASE_EMBEDDED_TOKEN_TTL_S,
                clock,
              })
            },
          }
        : undefined,
    })
    defer('broker', () => broker.close())

    const token =
      s.LAKEBASE_BROKER_TOKEN ??
      broker.clients.find(
        (c) => c.targets === '*' || c.targets.includes(functionsConfig.brokerTarget),
      )?.token
    const credentials = connectBroker({
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
    defer('functions', () => functions.close())

    const source = pg
      ? `embedded Postgres ${pg.host}:${pg.port}/${pg.database} (data in .lakebase/)`
      : 'Databricks workspace'
    out(
      [
        'Lakebase stack is running',
        `  functions  ${functions.url}/api/health`,
        `  broker     ${broker.url}/readyz`,
        `  database   ${source}, ${migrated.total} migration(s), logged in as ${migrated.user}`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    )
    return undefined
  },
}

runIfEntry(import.meta.url, command)
