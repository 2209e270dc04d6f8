import { parseSettings, type Setting, SSL_MODES, type SslMode } from 'lakebase-broker'
import { DEFAULT_DEV_USER } from 'lakebase-broker/hono'
import {
  DEFAULT_POOL_SIZE,
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  STATEMENT_TIMEOUT_MS,
} from 'lakebase-broker/postgres'
import { z } from 'zod'

export const DEFAULT_PREFERENCE_KEYS = ['dashboard_layout', 'favorite_tables', 'theme'] as const

const wholeNumber = () =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number')

/** Milliseconds as Postgres takes them: 0 turns the timeout off; at most a day. */
const milliseconds = () =>
  wholeNumber()
    .min(0, 'must be 0 or more milliseconds')
    .max(86_400_000, 'must be at most a day (86400000 ms)')

/**
 * The functions' own settings: what `createFunctionsApp({ env })` reads. The `functions` command
 * reads these and the broker-client, TLS, workspace and log settings.
 */
export const functionsAppSettings = {
  DATABRICKS_APP_NAME: {
    schema: z.string().optional(),
    doc: 'set by Databricks Apps: listen on all interfaces and trust forwarded headers',
  },
  TRUST_FORWARDED_HEADERS: {
    schema: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
    doc: 'take the user from `X-Forwarded-Email` / `X-Forwarded-User`',
    shownDefault: '`true` when `DATABRICKS_APP_NAME` is set',
  },
  LAKEBASE_DEV_USER: {
    schema: z.string().max(255, 'must be at most 255 characters').default(DEFAULT_DEV_USER),
    doc: 'the user when forwarded headers are not trusted (and the embedded role)',
  },
  PREFERENCE_KEYS: {
    schema: z
      .string()
      .regex(
        /^[\w.:-]+(\s*,\s*[\w.:-]+)*\s*,?$/,
        'must be keys (letters, digits, _ . : -) separated by commas',
      )
      .optional(),
    doc: 'allowed preference keys',
    shownDefault: `\`${DEFAULT_PREFERENCE_KEYS.join(',')}\``,
  },
  LAKEBASE_POOL_MAX: {
    schema: wholeNumber().min(1).max(100).default(DEFAULT_POOL_SIZE),
    doc: 'Postgres connections per process',
  },
  LAKEBASE_STATEMENT_TIMEOUT_MS: {
    schema: milliseconds().default(STATEMENT_TIMEOUT_MS),
    doc: 'Postgres aborts a statement that runs longer (0: never)',
  },
  LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: {
    schema: milliseconds().default(IDLE_IN_TRANSACTION_TIMEOUT_MS),
    doc: 'Postgres ends a session left idle inside a transaction this long (0: never)',
  },
  PGSSLMODE: {
    schema: z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(', ')}` }).optional(),
    doc: '`disable`, `prefer`, `require`, `verify-ca`, `verify-full`',
    shownDefault: '`require`',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    doc: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
    shownDefault: '`info` (`warn` under `npm start`)',
  },
} satisfies Record<string, Setting>

/** The functions' settings, resolved from the environment. */
export interface FunctionsAppConfig {
  /** Trust `X-Forwarded-Email`/`-User` (only behind the Databricks Apps proxy). */
  trustForwardedHeaders: boolean
  devUser: string
  preferenceKeys: readonly string[]
  /** `PGSSLMODE` when set; else the broker's credential says. */
  sslMode: SslMode | undefined
  poolMax: number
  /** `LAKEBASE_STATEMENT_TIMEOUT_MS` (0: none). */
  statementTimeoutMs: number
  /** `LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS` (0: none). */
  idleInTransactionTimeoutMs: number
  logLevel: string
}

/**
 * Reads {@link functionsAppSettings} from `env`, all at once, so that one run names every wrong
 * variable; the message names variables and what is wrong with them, never their values.
 *
 * @throws ConfigError naming each offending variable.
 */
export function functionsAppConfig(env: Record<string, string | undefined>): FunctionsAppConfig {
  const e = parseSettings(functionsAppSettings, env)
  const keys = e.PREFERENCE_KEYS?.split(',')
    .map((k) => k.trim())
    .filter(Boolean)
  return {
    trustForwardedHeaders: e.TRUST_FORWARDED_HEADERS
      ? e.TRUST_FORWARDED_HEADERS === 'true'
      : e.DATABRICKS_APP_NAME !== undefined,
    devUser: e.LAKEBASE_DEV_USER,
    preferenceKeys: keys ?? DEFAULT_PREFERENCE_KEYS,
    sslMode: e.PGSSLMODE,
    poolMax: e.LAKEBASE_POOL_MAX,
    statementTimeoutMs: e.LAKEBASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: e.LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL ?? 'info',
  }
}
