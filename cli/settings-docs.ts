import { brokerSettings, providerSettings } from '../broker/config.js'
import { pgbouncerSettings } from '../broker/pgbouncer/settings.js'
import {
  brokerClientSettings,
  logSettings,
  postgresSettings,
  workspaceSettings,
} from '../shared/process/common-settings.js'
import { type Settings, settingsTable } from '../shared/process/settings.js'
import { telemetrySettings } from '../shared/process/telemetry-export.js'
import { devSettings } from './commands/dev.js'
import { serveSettings } from './commands/serve.js'
import { functionsSettings } from './functions-config.js'

const { LAKEBASE_BROKER_URL, LAKEBASE_BROKER_TOKEN, LAKEBASE_BROKER_TARGET } = brokerClientSettings

/**
 * The README's configuration tables, each between `<!-- settings:NAME -->` and
 * `<!-- /settings:NAME -->`, written from the same definitions that parse the settings and
 * print `--help`. Together they hold every setting of every command.
 */
export const README_TABLES: Record<string, Settings> = {
  provider: { ...providerSettings, ...postgresSettings },
  workspace: workspaceSettings,
  broker: { ...brokerSettings, ...logSettings },
  pgbouncer: pgbouncerSettings,
  functions: {
    ...functionsSettings,
    LAKEBASE_BROKER_URL,
    LAKEBASE_BROKER_TOKEN,
    LAKEBASE_BROKER_TARGET,
  },
  serve: serveSettings,
  dev: devSettings,
  telemetry: telemetrySettings,
}

const BLOCK = /(<!-- settings:([a-z]+) -->\n)[\s\S]*?(<!-- \/settings:\2 -->)/g

/**
 * The README with every settings table rewritten from the definitions.
 *
 * @throws Error when the README lacks a table or names one that is not defined.
 */
export function withSettingsTables(readme: string): string {
  const seen = new Set<string>()
  const out = readme.replace(BLOCK, (_all, open: string, name: string, close: string) => {
    const settings = README_TABLES[name]
    if (settings === undefined)
      throw new Error(`README.md names an unknown settings table "${name}"`)
    seen.add(name)
    return `${open}${settingsTable(settings)}\n${close}`
  })
  const missing = Object.keys(README_TABLES).filter((name) => !seen.has(name))
  if (missing.length > 0) {
    throw new Error(`README.md lacks the settings table(s): ${missing.join(', ')}`)
  }
  return out
}
