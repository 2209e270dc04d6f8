import { z } from 'zod'
import { DEFAULT_BROKER_URL } from '../shared/broker-client.js'
import { SSL_MODES, type SslMode } from '../shared/credential.js'
import {
  type WorkspaceAuthSettings,
  workspaceAuthSettingsFromEnv,
} from '../shared/databricks/workspace-settings.js'
import { type Env, envValue } from '../shared/env.js'
import {
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  STATEMENT_TIMEOUT_MS,
} from '../shared/postgres/create-sql.js'

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
  /** `LAKEBASE_STATEMENT_TIMEOUT_MS`: Postgres cancels a statement after this long (30 s). */
  statementTimeoutMs: number
  /**
   * `LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`: Postgres ends a session left idle inside a
   * transaction after this long (30 s), so a stuck handler cannot hold locks.
   */
  idleInTransactionTimeoutMs: number
  logLevel: string
  /**
   * The Databricks workspace for model serving (`DATABRICKS_HOST` or `DATABRICKS_CONFIG_PROFILE`,
   * signed in as the broker does); undefined when neither is set.
   */
  workspace: WorkspaceAuthSettings | undefined
}

/** Milliseconds as Postgres takes them (0 turns the timeout off; at most a day). */
const timeoutMs = z.coerce.number().int().min(0).max(86_400_000)

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  DATABRICKS_APP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  FUNCTIONS_HOST: z.string().min(1).optional(),
  DATABRICKS_APP_NAME: z.string().optional(),
  LAKEBASE_BROKER_URL: z
    .string()
    .regex(/^(https?:\/\/|unix:\/)/, 'http(s):// or unix:/ URL')
    .default(DEFAULT_BROKER_URL),
  LAKEBASE_BROKER_TARGET: z.string().min(1).default('default'),
  TRUST_FORWARDED_HEADERS: z.enum(['true', 'false']).optional(),
  LAKEBASE_DEV_USER: z.string().min(1).max(255).default(DEFAULT_DEV_USER),
  PREFERENCE_KEYS: z.string().optional(),
  PGSSLMODE: z.enum(SSL_MODES).optional(),
  LAKEBASE_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
  LAKEBASE_STATEMENT_TIMEOUT_MS: timeoutMs.default(STATEMENT_TIMEOUT_MS),
  LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: timeoutMs.default(IDLE_IN_TRANSACTION_TIMEOUT_MS),
  LOG_LEVEL: z.string().default('info'),
})

/** Resolves the functions' configuration; throws with the offending variable named. */
export function resolveFunctionsConfig(env: Env): FunctionsConfig {
  const clean = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  )
  const parsed = schema.safeParse(clean)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new Error(`invalid functions settings: ${issues}`)
  }
  const e = parsed.data
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
    logLevel: e.LOG_LEVEL,
    workspace: workspaceAuthSettingsFromEnv(env),
  }
}
