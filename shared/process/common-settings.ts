import { z } from 'zod'
import { DEFAULT_BROKER_URL } from '../client/broker-client.js'
import { SSL_MODES } from '../client/credential.js'
import { normaliseWorkspaceHost } from '../databricks/host.js'
import { WORKSPACE_AUTH_TYPES } from '../databricks/workspace-settings.js'
import { numberSetting, type Settings, setting } from './settings.js'

/** Text that any value satisfies: a path, a name, a secret. */
const text = z.string().optional()

/** A TCP port; 0 asks the system for a free one. */
export const portSchema = numberSetting().int('must be a whole number').min(0).max(65535)

/** A target's name, as the broker's config file and `/v1/credentials/{target}` spell it. */
export const targetNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . or -')

/** One host name or address, as `PGHOST` takes it (no list, no spaces). */
export const hostSchema = z.string().regex(/^[^\s,/]+$/, 'must be one host name or address')

/** A Postgres identifier fits in 63 bytes; a longer one is silently cut by the server. */
const identifierSchema = z.string().max(63, 'must be at most 63 characters (a Postgres name)')

/** `LOG_LEVEL`, read by every long-running command. */
export const logSettings = {
  LOG_LEVEL: setting(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`',
    '`info` (`warn` under `npm start`)',
  ),
} satisfies Settings

/** Where a client (the functions, migrate, exec, wait) finds the broker. */
export const brokerClientSettings = {
  LAKEBASE_BROKER_URL: setting(
    z
      .string()
      .regex(/^(https?:\/\/|unix:\/)/, 'must be an http(s):// or unix:/ URL')
      .default(DEFAULT_BROKER_URL),
    'the broker (`unix:/path` for a socket)',
  ),
  LAKEBASE_BROKER_TOKEN: setting(text, 'the client token', 'the token file (`BROKER_TOKEN_FILE`)'),
  LAKEBASE_BROKER_TARGET: setting(targetNameSchema.default('default'), 'which target to read'),
  BROKER_TOKEN_FILE: setting(
    text,
    "the broker's client token file: without `BROKER_TOKEN` the broker reads it, or generates it (0600) on first start; clients read it without `LAKEBASE_BROKER_TOKEN`",
    '`$XDG_CONFIG_HOME/lakebase-broker/token`',
  ),
  XDG_CONFIG_HOME: setting(text, 'the folder of the token file above', '`~/.config`'),
} satisfies Settings

/** TLS to Postgres, for every driver. */
export const tlsSettings = {
  PGSSLMODE: setting(
    z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(', ')}` }).optional(),
    '`disable`, `prefer`, `require`, `verify-ca`, `verify-full`',
    '`require`',
  ),
  PGSSLROOTCERT: setting(
    text,
    'the CA file `verify-ca`/`verify-full` check the server against',
    'the system CAs',
  ),
} satisfies Settings

/** The Postgres a provider hands out (host, port, database, user, TLS). */
export const postgresSettings = {
  PGHOST: setting(
    hostSchema.optional(),
    "the Postgres host; else the instance's `read_write_dns` or the endpoint's `status.hosts.host` (never a pooled host). One the instance or endpoint does not list is a warning at start-up and a `doctor` failure",
    'looked up',
  ),
  LAKEBASE_HOST: setting(hostSchema.optional(), 'the same as `PGHOST` (`PGHOST` wins)'),
  PGPORT: setting(portSchema.min(1).optional(), 'Postgres port', '`5432`'),
  LAKEBASE_PORT: setting(portSchema.min(1).optional(), 'the same as `PGPORT` (`PGPORT` wins)'),
  PGDATABASE: setting(
    identifierSchema.optional(),
    'database name (`postgres` for `static`)',
    '`databricks_postgres`',
  ),
  LAKEBASE_DATABASE: setting(
    identifierSchema.optional(),
    'the same as `PGDATABASE` (`PGDATABASE` wins)',
  ),
  PGUSER: setting(
    text,
    "the Postgres role; never the literal `token`. With `LAKEBASE_GROUP`, the group's role instead",
    'token `sub`, else SCIM `Me`',
  ),
  PGPASSWORD: setting(text, 'the fixed password of the `static` provider'),
  ...tlsSettings,
} satisfies Settings

/** Workspace authentication, as the Databricks SDKs do it (the broker's and model serving's). */
export const workspaceSettings = {
  DATABRICKS_HOST: setting(
    z
      .string()
      .superRefine((value, ctx) => {
        try {
          normaliseWorkspaceHost(value, 'it')
        } catch (err) {
          // The message names the rule, never the value.
          ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^it /, '') })
        }
      })
      .optional(),
    'workspace URL; `https://` only, except `http://127.0.0.1:…`/`localhost` (tests, emulators)',
  ),
  DATABRICKS_TOKEN: setting(text, 'a personal access token'),
  DATABRICKS_CLIENT_ID: setting(text, 'OAuth M2M: the service principal (Databricks Apps set it)'),
  DATABRICKS_CLIENT_SECRET: setting(text, "OAuth M2M: the service principal's secret"),
  DATABRICKS_AUTH_TYPE: setting(
    z
      .enum(WORKSPACE_AUTH_TYPES, { error: `must be one of ${WORKSPACE_AUTH_TYPES.join(', ')}` })
      .optional(),
    `force one method: ${WORKSPACE_AUTH_TYPES.map((t) => `\`${t}\``).join(', ')}`,
    'the order below',
  ),
  DATABRICKS_CONFIG_PROFILE: setting(text, 'the section of the config file', '`DEFAULT`'),
  DATABRICKS_CONFIG_FILE: setting(text, 'the config file', '`~/.databrickscfg`'),
  DATABRICKS_CLI_PATH: setting(text, 'the Databricks CLI', '`databricks`'),
  ARM_CLIENT_ID: setting(text, 'Azure: an Entra ID service principal (`azure-client-secret`)'),
  ARM_CLIENT_SECRET: setting(text, "Azure: the service principal's secret"),
  ARM_TENANT_ID: setting(text, 'Azure: the tenant of the principal (also passed to `az`)'),
  AZURE_AUTHORITY_HOST: setting(
    text,
    'Azure: the Entra ID login host (`https://`, or `http://` on loopback for tests)',
    '`https://login.microsoftonline.com`',
  ),
  AZURE_CLI_PATH: setting(text, 'Azure: the Azure CLI (`azure-cli`)', '`az`'),
} satisfies Settings
