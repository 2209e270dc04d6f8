import { z } from 'zod'
import type { SslMode } from '../shared/credential.js'
import {
  type WorkspaceAuthSettings,
  workspaceAuthSettingsFromEnv,
} from '../shared/databricks/workspace-settings.js'
import { type Env, envValue } from '../shared/env.js'
import {
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  STATEMENT_TIMEOUT_MS,
} from '../shared/postgres/create-sql.js'
import {
  brokerClientSettings,
  hostSchema,
  logSettings,
  portSchema,
  tlsSettings,
  workspaceSettings,
} from '../shared/process/common-settings.js'
import {
  booleanText,
  numberSetting,
  parseSettings,
  type Settings,
  setting,
} from '../shared/process/settings.js'

export const DEFAULT_PREFERENCE_KEYS = ['dashboard_layout', 'favorite_tables', 'theme'] as const
export const DEFAULT_DEV_USER = 'dev-user@example.com'
export const DEFAULT_FUNCTIONS_PORT = 8000

/** The functions' settings, resolved once at start-up from the environment. */
export interface FunctionsConfig {
  port: number
  /** Loopback for local runs; all interfaces inside Databricks Apps, where the proxy connects. */
  host: string
  brokerUrl: string
  brokerTarget: string
  /** Trust `X-Forwarded-Email`/`-User` (only behind the Databricks Apps proxy). */
  trustForwardedHeaders: boolean
  devUser: string
  preferenceKeys: readonly string[]
  /** `PGSSLMODE` when set; the broker's credential says otherwise. */
  sslMode: SslMode | undefined
  poolMax: number
  /** `LAKEBASE_STATEMENT_TIMEOUT_MS` (0: none). */
  statementTimeoutMs: number
  /** `LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS` (0: none). */
  idleInTransactionTimeoutMs: number
  logLevel: string
  /**
   * The Databricks workspace for model serving (`DATABRICKS_HOST` or `DATABRICKS_CONFIG_PROFILE`,
   * signed in as the broker does); undefined when neither is set.
   */
  workspace: WorkspaceAuthSettings | undefined
}

/** Postgres connections per process; `LAKEBASE_POOL_MAX`. */
export const DEFAULT_POOL_MAX = 10

/** Milliseconds as Postgres takes them: 0 turns the timeout off; at most a day. */
const milliseconds = () =>
  numberSetting()
    .int('must be whole milliseconds')
    .min(0, 'must be 0 or more milliseconds')
    .max(86_400_000, 'must be at most a day (86400000 ms)')

/** The functions' own settings (the Node host). */
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
  DATABRICKS_APP_NAME: setting(
    z.string().optional(),
    'set by Databricks Apps: listen on all interfaces and trust forwarded headers',
  ),
  TRUST_FORWARDED_HEADERS: setting(
    booleanText.optional(),
    'take the user from `X-Forwarded-Email` / `X-Forwarded-User`',
    '`true` when `DATABRICKS_APP_NAME` is set',
  ),
  LAKEBASE_DEV_USER: setting(
    z.string().max(255, 'must be at most 255 characters').default(DEFAULT_DEV_USER),
    'the user when forwarded headers are not trusted (and the embedded role)',
  ),
  PREFERENCE_KEYS: setting(
    z
      .string()
      .regex(
        /^[\w.:-]+(\s*,\s*[\w.:-]+)*\s*,?$/,
        'must be keys (letters, digits, _ . : -) separated by commas',
      )
      .optional(),
    'allowed preference keys',
    `\`${DEFAULT_PREFERENCE_KEYS.join(',')}\``,
  ),
  LAKEBASE_POOL_MAX: setting(
    numberSetting().int('must be a whole number').min(1).max(100).default(DEFAULT_POOL_MAX),
    'Postgres connections per process',
  ),
  LAKEBASE_STATEMENT_TIMEOUT_MS: setting(
    milliseconds().default(STATEMENT_TIMEOUT_MS),
    'Postgres aborts a statement that runs longer (0: never)',
  ),
  LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: setting(
    milliseconds().default(IDLE_IN_TRANSACTION_TIMEOUT_MS),
    'Postgres ends a session left idle inside a transaction this long (0: never)',
  ),
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
 * Resolves the functions' configuration, once, at start-up.
 *
 * @throws ConfigError naming each offending variable.
 */
export function resolveFunctionsConfig(env: Env): FunctionsConfig {
  const e = parseSettings(functionsCommandSettings, env)
  const inApps = e.DATABRICKS_APP_NAME !== undefined
  const keys = envValue(env, 'PREFERENCE_KEYS')
  return {
    port: e.PORT ?? e.DATABRICKS_APP_PORT ?? DEFAULT_FUNCTIONS_PORT,
    host: e.FUNCTIONS_HOST ?? (inApps ? '0.0.0.0' : '127.0.0.1'),
    brokerUrl: e.LAKEBASE_BROKER_URL,
    brokerTarget: e.LAKEBASE_BROKER_TARGET,
    trustForwardedHeaders: e.TRUST_FORWARDED_HEADERS
      ? e.TRUST_FORWARDED_HEADERS === 'true'
      : inApps,
    devUser: e.LAKEBASE_DEV_USER,
    preferenceKeys: keys
      ? keys
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean)
      : DEFAULT_PREFERENCE_KEYS,
    sslMode: e.PGSSLMODE,
    poolMax: e.LAKEBASE_POOL_MAX,
    statementTimeoutMs: e.LAKEBASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: e.LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL ?? 'info',
    workspace: workspaceAuthSettingsFromEnv(env),
  }
}
