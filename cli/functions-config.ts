import {
  type FunctionsAppConfig,
  functionsAppConfig,
  functionsAppSettings,
} from '../functions/settings.js'
import {
  type WorkspaceAuthSettings,
  workspaceAuthSettingsFromEnv,
} from '../shared/databricks/workspace-settings.js'
import {
  brokerClientSettings,
  hostSchema,
  logSettings,
  portSchema,
  tlsSettings,
  workspaceSettings,
} from '../shared/process/common-settings.js'
import type { Env } from '../shared/process/env.js'
import { parseSettings, type Settings, setting } from '../shared/process/settings.js'

export { DEFAULT_PREFERENCE_KEYS } from '../functions/settings.js'
export const DEFAULT_FUNCTIONS_PORT = 8000

/** The functions command's settings, resolved once at start-up from the environment. */
export interface FunctionsConfig extends FunctionsAppConfig {
  port: number
  /** Loopback for local runs; all interfaces inside Databricks Apps, where the proxy connects. */
  host: string
  brokerUrl: string
  brokerTarget: string
  /**
   * The Databricks workspace for model serving (`DATABRICKS_HOST` or `DATABRICKS_CONFIG_PROFILE`,
   * signed in as the broker does); undefined when neither is set.
   */
  workspace: WorkspaceAuthSettings | undefined
}

const { PGSSLMODE: _tls, LOG_LEVEL: _log, ...appSettings } = functionsAppSettings

/** The functions' settings on the Node host: where they listen, and what the app reads. */
export const functionsSettings = {
  PORT: setting(
    portSchema.optional(),
    'where the functions listen',
    '`DATABRICKS_APP_PORT`, else `8000`',
  ),
  DATABRICKS_APP_PORT: setting(
    portSchema.optional(),
    'the port Databricks Apps give the app (`PORT` wins)',
  ),
  FUNCTIONS_HOST: setting(
    hostSchema.optional(),
    'listen address',
    '`127.0.0.1` (`0.0.0.0` in Databricks Apps)',
  ),
  ...appSettings,
} satisfies Settings

/** Every setting `lakebase-broker functions` reads. */
export const functionsCommandSettings = {
  ...functionsSettings,
  ...brokerClientSettings,
  ...tlsSettings,
  ...workspaceSettings,
  ...logSettings,
} satisfies Settings

/**
 * Resolves the functions command's configuration, once, at start-up.
 *
 * @throws ConfigError naming each offending variable.
 */
export function resolveFunctionsConfig(env: Env): FunctionsConfig {
  const e = parseSettings(functionsCommandSettings, env)
  const inApps = e.DATABRICKS_APP_NAME !== undefined
  return {
    ...functionsAppConfig(env),
    port: e.PORT ?? e.DATABRICKS_APP_PORT ?? DEFAULT_FUNCTIONS_PORT,
    host: e.FUNCTIONS_HOST ?? (inApps ? '0.0.0.0' : '127.0.0.1'),
    brokerUrl: e.LAKEBASE_BROKER_URL,
    brokerTarget: e.LAKEBASE_BROKER_TARGET,
    workspace: workspaceAuthSettingsFromEnv(env),
  }
}
