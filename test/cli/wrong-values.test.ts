import { describe, expect, it } from 'vitest'
import { SUBCOMMANDS } from '../../cli/subcommands.js'
import { ConfigError } from '../../shared/process/config-error.js'
import { type Command, settingsOf } from '../../shared/process/run-main.js'
import { parseSettings, type Settings } from '../../shared/process/settings.js'
import { tempDir } from '../support/broker.js'
import { spawnTs } from '../support/process.js'

/** A wrong value for every setting that has a shape. */
const WRONG: Record<string, string> = {
  LAKEBASE_PROVIDER: 'vault',
  LAKEBASE_INSTANCE_NAME: 'two words',
  LAKEBASE_ENDPOINT: 'projects/p',
  LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S: 'ten',
  LAKEBASE_READ_ONLY: 'yes',
  LAKEBASE_CREDENTIAL_TTL_S: '3601',
  PGHOST: 'db one',
  LAKEBASE_HOST: 'a,b',
  PGPORT: '70000',
  LAKEBASE_PORT: '0',
  PGDATABASE: 'd'.repeat(64),
  LAKEBASE_DATABASE: 'd'.repeat(64),
  PGSSLMODE: 'on',
  DATABRICKS_HOST: 'http://workspace.example.com',
  DATABRICKS_AUTH_TYPE: 'password',
  BROKER_HOST: 'http://x/',
  BROKER_PORT: 'eighty',
  BROKER_ALLOWED_HOSTS: 'a.example, b/c',
  BROKER_REFRESH_FRACTION: '1.5',
  BROKER_MIN_TTL_S: '-1',
  BROKER_FETCH_TIMEOUT_S: '0',
  BROKER_FORCED_REFRESH_MIN_S: 'soon',
  // The typo that used to become NaN and silently turn draining off.
  BROKER_DRAIN_S: '2s',
  BROKER_STATUS_PAGE: 'yes',
  BROKER_OUTAGE_BUDGET_S: '-5',
  LOG_LEVEL: 'verbose',
  LAKEBASE_BROKER_URL: 'localhost:8990',
  LAKEBASE_BROKER_TARGET: 'a/b',
  PORT: '-1',
  DATABRICKS_APP_PORT: '65536',
  FUNCTIONS_HOST: 'every where',
  TRUST_FORWARDED_HEADERS: 'yes',
  LAKEBASE_DEV_USER: 'u'.repeat(256),
  PREFERENCE_KEYS: 'theme, bad key',
  LAKEBASE_POOL_MAX: '0',
  LAKEBASE_STATEMENT_TIMEOUT_MS: '1.5',
  LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '-1',
  LAKEBASE_EMBEDDED_PORT: '0',
  LAKEBASE_EMBEDDED_TOKEN_TTL_S: '0',
  LAKEBASE_MIGRATE_ON_START: 'no',
  LAKEBASE_MIGRATE_TIMEOUT_S: 'five minutes',
  BROKER_PGBOUNCER: 'yes',
  BROKER_PGBOUNCER_PORT: '65536',
  BROKER_PGBOUNCER_TCP: 'on',
  BROKER_PGBOUNCER_POOL_MODE: 'pooled',
  BROKER_PGBOUNCER_POOL_SIZE: '0',
  BROKER_PGBOUNCER_MAX_CLIENTS: 'many',
  BROKER_PGBOUNCER_SERVER_LIFETIME_S: '1.5',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4317',
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'collector:4317',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon',
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'carrier-pigeon',
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'carrier-pigeon',
  OTEL_TRACES_EXPORTER: 'console',
  OTEL_METRICS_EXPORTER: 'console',
  OTEL_METRIC_EXPORT_INTERVAL: 'soon',
  OTEL_METRIC_EXPORT_TIMEOUT: '-1',
  OTEL_SDK_DISABLED: 'yes',
}

/** Settings whose every value is acceptable: paths, names, secrets, commands. */
const ANY_TEXT = [
  'LAKEBASE_CREDENTIAL_COMMAND',
  'PGUSER',
  'PGPASSWORD',
  'PGSSLROOTCERT',
  'DATABRICKS_TOKEN',
  'DATABRICKS_CLIENT_ID',
  'DATABRICKS_CLIENT_SECRET',
  'DATABRICKS_CONFIG_PROFILE',
  'DATABRICKS_CONFIG_FILE',
  'DATABRICKS_CLI_PATH',
  'BROKER_SOCKET',
  'BROKER_TOKEN',
  'BROKER_TOKEN_FILE',
  'BROKER_CONFIG',
  'XDG_CONFIG_HOME',
  'LAKEBASE_BROKER_TOKEN',
  'DATABRICKS_APP_NAME',
  'LAKEBASE_STATE_DIR',
  'BROKER_PGPASS_FILE',
  'ARM_CLIENT_ID',
  'ARM_CLIENT_SECRET',
  'ARM_TENANT_ID',
  'AZURE_AUTHORITY_HOST',
  'AZURE_CLI_PATH',
  'LAKEBASE_GROUP',
  'BROKER_PGBOUNCER_PATH',
  'BROKER_PGBOUNCER_DIR',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
]

const commands = await Promise.all(
  Object.entries(SUBCOMMANDS).map(async ([name, s]) => {
    const { command } = await s.load()
    return [name, command as Command<Settings>] as const
  }),
)
// Each command's whole set: its own settings and, for the servers, the OTLP export's.
const cases = commands.flatMap(([name, command]) => {
  const settings = settingsOf(command)
  return Object.keys(settings).map((variable) => ({ name, settings, variable }))
})

function problemOf(settings: Settings, env: Record<string, string>): ConfigError | undefined {
  try {
    parseSettings(settings, env)
    return undefined
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
}

describe('a wrong value for any setting of any command', () => {
  it('has a case for every setting (a new setting needs a wrong value here, or ANY_TEXT)', () => {
    const uncovered = cases
      .map((c) => c.variable)
      .filter((v) => !(v in WRONG) && !ANY_TEXT.includes(v))
    expect([...new Set(uncovered)]).toEqual([])
  })

  it.each(cases.filter((c) => c.variable in WRONG))(
    '$name stops at $variable, naming it and not its value',
    ({ settings, variable }) => {
      const wrong = WRONG[variable] as string
      const problem = problemOf(settings, { [variable]: wrong })
      expect(problem?.message).toContain(variable)
      // A short value like `0` may well appear in the rule itself.
      if (wrong.length >= 4 && variable !== 'DATABRICKS_HOST') {
        expect(problem?.message).not.toContain(wrong)
      }
    },
  )

  it.each(cases.filter((c) => ANY_TEXT.includes(c.variable)))(
    '$name takes any text in $variable',
    ({ settings, variable }) => {
      expect(problemOf(settings, { [variable]: 'any text at all, even with / and ,' })).toBe(
        undefined,
      )
    },
  )

  it('names every wrong variable in one message, not only the first', () => {
    const broker = commands.find(([name]) => name === 'broker')?.[1] as Command<Settings>
    const problem = problemOf(broker.settings, { BROKER_PORT: 'x', BROKER_DRAIN_S: 'y' })
    expect(problem?.message).toMatch(/BROKER_PORT.*BROKER_DRAIN_S/)
  })

  it('stops the real processes with exit code 2 and one line naming the variable', async () => {
    const xdg = await tempDir('lakebase-xdg-')
    const runs = [
      { args: ['functions'], env: { PORT: 'abc' }, variable: 'PORT' },
      {
        args: ['serve'],
        env: { LAKEBASE_MIGRATE_TIMEOUT_S: '-1' },
        variable: 'LAKEBASE_MIGRATE_TIMEOUT_S',
      },
      { args: ['dev'], env: { LAKEBASE_EMBEDDED_PORT: 'x' }, variable: 'LAKEBASE_EMBEDDED_PORT' },
    ].map((run) => ({
      ...run,
      child: spawnTs('cli/main.ts', run.args, { ...run.env, XDG_CONFIG_HOME: xdg }),
    }))
    for (const run of runs) {
      expect(await run.child.exited).toBe(2)
      const lines = run.child.output().trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(
        new RegExp(`^${run.args[0]}: invalid setting: ${run.variable} .* — fix: `),
      )
    }
  }, 60_000)
})
