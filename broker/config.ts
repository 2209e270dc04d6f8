import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { brokerTokenFile } from '../shared/client/broker-token.js'
import { READ_ONLY_SUFFIX, readOnlyTargetName } from '../shared/client/read-only-target.js'
import {
  type DatabaseClaim,
  databaseClaimsSchema,
  MAX_CREDENTIAL_TTL_S,
  MIN_CREDENTIAL_TTL_S,
} from '../shared/databricks/credential-request.js'
import {
  brokerClientSettings,
  hostSchema,
  logSettings,
  portSchema,
  postgresSettings,
  targetNameSchema,
  workspaceSettings,
} from '../shared/process/common-settings.js'
import { ConfigError } from '../shared/process/config-error.js'
import { type Env, envValue } from '../shared/process/env.js'
import {
  booleanText,
  numberSetting,
  parseSettings,
  type Settings,
  setting,
} from '../shared/process/settings.js'
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_FORCED_REFRESH_MIN_MS } from './credential-cache.js'
import { type PgbouncerConfig, pgbouncerConfig, pgbouncerSettings } from './pgbouncer/settings.js'
import {
  DEFAULT_JITTER_FRACTION,
  DEFAULT_MIN_TTL_MS,
  DEFAULT_REFRESH_FRACTION,
  type RefreshPolicy,
} from './refresh-schedule.js'

export const DEFAULT_BROKER_HOST = '127.0.0.1'
export const DEFAULT_BROKER_PORT = 8990
export const DEFAULT_TARGET = 'default'

export const PROVIDER_KINDS = ['databricks', 'static', 'embedded', 'command'] as const
export type ProviderKind = (typeof PROVIDER_KINDS)[number]

/** One named credential target and the settings its provider reads. */
export interface TargetConfig {
  name: string
  provider: ProviderKind
  /** The environment the provider is configured from: the process's, with overrides. */
  env: Env
  /** Claims each of its database credentials is asked for (config file only; `databricks`). */
  claims?: readonly DatabaseClaim[]
}

/**
 * A read-only companion the broker offers beside a Lakebase target: `<primary>-ro`, the
 * primary's credential with its read-only host (a Provisioned instance's `read_only_dns`, an
 * Autoscaling endpoint's `status.hosts.read_only_host`; broker/read-only-companion.ts).
 */
export interface CompanionConfig {
  name: string
  primary: string
  /** The 404's message when the primary's credential names no read-only host. */
  absentReason: string
  /**
   * The primary's host is given (`PGHOST`/`LAKEBASE_HOST`), so its credentials name no read-only
   * host: the broker looks it up once, when a client first asks.
   */
  lookUp: boolean
}

/** A caller of the broker, its token, and which targets it may read (`*` for all). */
export interface ClientConfig {
  name: string
  token: string
  targets: readonly string[] | '*'
}

export interface BrokerConfig {
  listen: { kind: 'tcp'; host: string; port: number } | { kind: 'socket'; path: string }
  /** Host header values accepted besides loopback names. */
  allowedHosts: string[]
  /** Client tokens given in the environment or the config file; empty means "use the file". */
  clients: ClientConfig[]
  /** Where the single generated client token lives when no client is configured. */
  tokenFile: string
  targets: TargetConfig[]
  /** Read-only companions of Lakebase targets, none named like a configured target. */
  companions: CompanionConfig[]
  policy: RefreshPolicy
  fetchTimeoutMs: number
  /** At most one forced refresh per target this often (`BROKER_FORCED_REFRESH_MIN_S`). */
  forcedRefreshMinMs: number
  /** How long SIGTERM keeps answering with `/readyz` at 503 (`BROKER_DRAIN_S`). */
  drainMs: number
  logLevel: string
  statusPage: boolean
  /** `BROKER_PGPASS_FILE`: a libpq password file kept current for every target, if set. */
  pgpassFile?: string
  /** `BROKER_PGBOUNCER=true`: a local PgBouncer kept logged in (broker/pgbouncer/). */
  pgbouncer?: PgbouncerConfig
}

export { ConfigError }

const configFileSchema = z.strictObject({
  targets: z
    .record(
      targetNameSchema,
      z.strictObject({
        provider: z.enum(PROVIDER_KINDS).optional(),
        env: z.record(z.string(), z.string()).default({}),
        claims: databaseClaimsSchema.optional(),
      }),
    )
    .default({}),
  clients: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(64),
        token: z.string().min(16, 'client tokens must be at least 16 characters'),
        targets: z.union([z.literal('*'), z.array(targetNameSchema).min(1)]),
      }),
    )
    .default([]),
})
export type BrokerConfigFile = z.infer<typeof configFileSchema>

/**
 * After SIGTERM the broker keeps answering for this long with `/readyz` at 503, so that an
 * orchestrator stops routing to it before it goes away; `BROKER_DRAIN_S`. Ctrl-C skips it.
 */
export const DEFAULT_DRAIN_MS = 2_000

/** A credential helper that takes longer than this is stuck; `LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S`. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000

/** A non-negative number of seconds. */
const seconds = () => numberSetting().min(0, 'must be 0 or more seconds')

/** Where credentials come from: the provider and what names the database. */
export const providerSettings = {
  LAKEBASE_PROVIDER: setting(
    z.enum(PROVIDER_KINDS, { error: `must be one of ${PROVIDER_KINDS.join(', ')}` }).optional(),
    '`databricks`, `static`, `command` or `embedded`. Unset: `databricks` if `DATABRICKS_HOST`, `LAKEBASE_INSTANCE_NAME` or `LAKEBASE_ENDPOINT` is set (the host then comes from a config profile or the CLI), else `static` if `PGPASSWORD` is, else `command` if `LAKEBASE_CREDENTIAL_COMMAND` is, else `embedded` under `npm start`',
    'chosen',
  ),
  LAKEBASE_INSTANCE_NAME: setting(
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must be an instance name (letters, digits, -)')
      .optional(),
    'a Lakebase Provisioned instance (`POST /api/2.0/database/credentials`)',
  ),
  LAKEBASE_ENDPOINT: setting(
    z
      .string()
      .regex(
        /^projects\/[^/\s]+\/branches\/[^/\s]+\/endpoints\/[^/\s]+$/,
        'must look like projects/<p>/branches/<b>/endpoints/<e>',
      )
      .optional(),
    'a Lakebase Autoscaling endpoint `projects/<p>/branches/<b>/endpoints/<e>` (`POST /api/2.0/postgres/credentials`)',
  ),
  LAKEBASE_READ_ONLY: setting(
    booleanText.optional(),
    "Provisioned only: this target connects to the instance's `read_only_dns` (its readable secondaries); without it, every Lakebase target `X` is offered read-only as `X-ro` anyway (below). For Autoscaling, name the read-only endpoint in `LAKEBASE_ENDPOINT`",
    '`false`',
  ),
  LAKEBASE_CREDENTIAL_TTL_S: setting(
    numberSetting()
      .int('must be a whole number of seconds')
      .min(
        MIN_CREDENTIAL_TTL_S,
        `must be ${MIN_CREDENTIAL_TTL_S}–${MAX_CREDENTIAL_TTL_S} (seconds)`,
      )
      .max(
        MAX_CREDENTIAL_TTL_S,
        `must be ${MIN_CREDENTIAL_TTL_S}–${MAX_CREDENTIAL_TTL_S} (seconds)`,
      )
      .optional(),
    `Autoscaling only: the lifetime asked of each database credential, ${MIN_CREDENTIAL_TTL_S}–${MAX_CREDENTIAL_TTL_S} s`,
    "the workspace's (1 h)",
  ),
  LAKEBASE_GROUP: setting(
    z.string().min(1).optional(),
    "Autoscaling only: a workspace group's display name; each credential is the group's (`group_name`), the caller must be a member, and the Postgres user is the group's role (overriding `PGUSER`)",
    "the caller's own",
  ),
  LAKEBASE_CREDENTIAL_COMMAND: setting(
    z.string().optional(),
    '`command` provider: a shell command printing `{"password", "user"?, "host"?, "port"?, "database"?, "ssl"?, "expiresAt"?}`',
  ),
  LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S: setting(
    numberSetting()
      .positive('must be more than 0 seconds')
      .default(DEFAULT_COMMAND_TIMEOUT_MS / 1000),
    'the command is killed after this',
  ),
} satisfies Settings

/** Everything a provider reads from a target's environment. */
export const targetSettings = {
  ...providerSettings,
  ...postgresSettings,
  ...workspaceSettings,
} satisfies Settings

/** The broker's own settings: where it listens, who may call it, when it refreshes. */
export const brokerSettings = {
  BROKER_HOST: setting(
    hostSchema.default(DEFAULT_BROKER_HOST),
    'listen address (keep it loopback)',
  ),
  BROKER_PORT: setting(portSchema.default(DEFAULT_BROKER_PORT), 'listen port'),
  BROKER_SOCKET: setting(
    z.string().optional(),
    'listen on this unix socket instead (created mode 0600)',
  ),
  BROKER_TOKEN: setting(z.string().optional(), 'the client token callers must present'),
  BROKER_TOKEN_FILE: brokerClientSettings.BROKER_TOKEN_FILE,
  XDG_CONFIG_HOME: brokerClientSettings.XDG_CONFIG_HOME,
  BROKER_CONFIG: setting(
    z.string().optional(),
    'JSON file with more targets and per-client tokens (below)',
  ),
  BROKER_ALLOWED_HOSTS: setting(
    z
      .string()
      .refine(
        (list) => list.split(',').every((name) => /^[^\s/]*$/.test(name.trim())),
        'must be host names separated by commas',
      )
      .optional(),
    'comma-separated `Host` names accepted besides loopback (and `BROKER_HOST` when it is a name, not a wildcard)',
  ),
  BROKER_REFRESH_FRACTION: setting(
    numberSetting()
      .gt(0, 'must be between 0 and 1')
      .lt(1, 'must be between 0 and 1')
      .default(DEFAULT_REFRESH_FRACTION),
    "refresh at this share of the credential's lifetime (up to 10 % earlier, jittered)",
  ),
  BROKER_MIN_TTL_S: setting(
    seconds().default(DEFAULT_MIN_TTL_MS / 1000),
    'never hand out a credential with less than this left',
  ),
  BROKER_FETCH_TIMEOUT_S: setting(
    numberSetting()
      .positive('must be more than 0 seconds')
      .default(DEFAULT_FETCH_TIMEOUT_MS / 1000),
    'one fetch (all its upstream calls) is abandoned after this',
  ),
  BROKER_FORCED_REFRESH_MIN_S: setting(
    seconds().default(DEFAULT_FORCED_REFRESH_MIN_MS / 1000),
    'at most one forced refresh (a client reported a refused password) per target this often',
  ),
  BROKER_DRAIN_S: setting(
    seconds().default(DEFAULT_DRAIN_MS / 1000),
    'after SIGTERM, answer `/readyz` 503 for this long before exiting',
  ),
  BROKER_STATUS_PAGE: setting(
    booleanText.default('true'),
    'serve the status page at `/` and `/status.json`',
  ),
  BROKER_PGPASS_FILE: setting(
    z.string().min(1).optional(),
    'keep a libpq password file here (mode 0600, one line per target, rewritten at each refresh); point `PGPASSFILE` at it',
  ),
  BROKER_OUTAGE_BUDGET_S: setting(
    seconds().optional(),
    'how long an upstream outage must be survived: each credential is refreshed at min(`BROKER_REFRESH_FRACTION`, 1 − (budget + min TTL) / lifetime) of its life (never before a tenth of it); a warning names the outage a too-short credential can survive',
  ),
} satisfies Settings

/** Every setting `lakebase-broker broker` reads. */
export const brokerCommandSettings = {
  ...targetSettings,
  ...brokerSettings,
  ...pgbouncerSettings,
  ...logSettings,
} satisfies Settings

export interface ResolveOptions {
  /** The provider to use when the environment names none (`embedded` under `npm start`). */
  fallbackProvider?: ProviderKind
  /** Reads the config file; injected by tests. */
  readFile?: (path: string) => string
}

/**
 * The broker's whole configuration, resolved once at start-up. Precedence: explicit options >
 * environment > `.env.local` (already merged into `env` by loadEnv) > defaults. Throws
 * ConfigError with what to set.
 */
export function resolveBrokerConfig(env: Env, options: ResolveOptions = {}): BrokerConfig {
  const e = parseSettings(brokerCommandSettings, env)
  const file = readConfigFile(env, options.readFile)

  const targets: TargetConfig[] = []
  const defaultOverride = file.targets[DEFAULT_TARGET]
  const defaultEnv = { ...env, ...defaultOverride?.env }
  if (defaultOverride) parseSettings(targetSettings, defaultEnv, `target "${DEFAULT_TARGET}"`)
  const defaultProvider =
    defaultOverride?.provider ?? chooseProvider(defaultEnv, options.fallbackProvider)
  if (defaultProvider)
    targets.push({
      name: DEFAULT_TARGET,
      provider: defaultProvider,
      env: defaultEnv,
      ...(defaultOverride?.claims === undefined ? {} : { claims: defaultOverride.claims }),
    })
  for (const [name, target] of Object.entries(file.targets)) {
    if (name === DEFAULT_TARGET) continue
    const targetEnv = { ...env, ...target.env }
    parseSettings(targetSettings, targetEnv, `target "${name}"`)
    const provider = target.provider ?? chooseProvider(targetEnv, undefined)
    if (!provider) throw new ConfigError(`target "${name}" names no provider`, 'set "provider"')
    targets.push({
      name,
      provider,
      env: targetEnv,
      ...(target.claims === undefined ? {} : { claims: target.claims }),
    })
  }
  if (targets.length === 0) {
    throw new ConfigError(
      'no Lakebase is configured: nothing to broker',
      'set DATABRICKS_HOST with LAKEBASE_INSTANCE_NAME or LAKEBASE_ENDPOINT (a workspace), ' +
        'or PGHOST/PGUSER/PGPASSWORD (a local Postgres), or run `npm start` for an embedded one',
    )
  }

  const clients: ClientConfig[] = file.clients.map((c) => ({ ...c }))
  const envToken = envValue(env, 'BROKER_TOKEN')
  if (envToken) clients.push({ name: 'default', token: envToken, targets: '*' })

  const socket = e.BROKER_SOCKET
  const pgbouncer = pgbouncerConfig(e, env)
  return {
    listen: socket
      ? { kind: 'socket', path: socket }
      : { kind: 'tcp', host: e.BROKER_HOST, port: e.BROKER_PORT },
    allowedHosts: allowedHostNames(e.BROKER_ALLOWED_HOSTS ?? '', e.BROKER_HOST),
    clients,
    tokenFile: brokerTokenFile(env),
    targets,
    companions: readOnlyCompanions(targets),
    policy: {
      refreshFraction: e.BROKER_REFRESH_FRACTION,
      minTtlMs: e.BROKER_MIN_TTL_S * 1000,
      jitterFraction: DEFAULT_JITTER_FRACTION,
      ...(e.BROKER_OUTAGE_BUDGET_S === undefined
        ? {}
        : { outageBudgetMs: e.BROKER_OUTAGE_BUDGET_S * 1000 }),
    },
    fetchTimeoutMs: e.BROKER_FETCH_TIMEOUT_S * 1000,
    forcedRefreshMinMs: e.BROKER_FORCED_REFRESH_MIN_S * 1000,
    drainMs: e.BROKER_DRAIN_S * 1000,
    logLevel: e.LOG_LEVEL ?? 'info',
    statusPage: e.BROKER_STATUS_PAGE === 'true',
    ...(e.BROKER_PGPASS_FILE === undefined ? {} : { pgpassFile: e.BROKER_PGPASS_FILE }),
    ...(pgbouncer === undefined ? {} : { pgbouncer }),
  }
}

/**
 * `LAKEBASE_PROVIDER` if set; else `databricks` when `DATABRICKS_HOST` (or a Lakebase instance or
 * endpoint) is set, `static` when `PGPASSWORD` is, `command` when `LAKEBASE_CREDENTIAL_COMMAND`
 * is, else the fallback (`embedded` under `npm start`).
 */
export function chooseProvider(
  env: Env,
  fallback: ProviderKind | undefined,
): ProviderKind | undefined {
  const explicit = envValue(env, 'LAKEBASE_PROVIDER')
  if (explicit) {
    const kind = z.enum(PROVIDER_KINDS).safeParse(explicit)
    if (!kind.success) {
      throw new ConfigError(
        `LAKEBASE_PROVIDER must be one of ${PROVIDER_KINDS.join(', ')}`,
        'unset it to choose by the other variables',
      )
    }
    return kind.data
  }
  if (envValue(env, 'DATABRICKS_HOST')) return 'databricks'
  // A named Lakebase database means the workspace too: its host then comes from a config profile
  // or the Databricks CLI, as `.env.local` written for a developer's own login has it.
  if (envValue(env, 'LAKEBASE_INSTANCE_NAME', 'LAKEBASE_ENDPOINT')) return 'databricks'
  if (envValue(env, 'PGPASSWORD')) return 'static'
  if (envValue(env, 'LAKEBASE_CREDENTIAL_COMMAND')) return 'command'
  return fallback
}

function readConfigFile(env: Env, read = (p: string) => readFileSync(p, 'utf8')): BrokerConfigFile {
  const path = envValue(env, 'BROKER_CONFIG')
  if (!path) return configFileSchema.parse({})
  let raw: unknown
  try {
    raw = JSON.parse(read(path))
  } catch (err) {
    // The parser's message quotes the text around the fault, which may hold a client token.
    const reason = (err as NodeJS.ErrnoException).code ?? 'not valid JSON'
    throw new ConfigError(`BROKER_CONFIG ${path} could not be read: ${reason}`)
  }
  const parsed = configFileSchema.safeParse(raw)
  if (!parsed.success) {
    // Issue paths only: a message could quote a client token back.
    const where = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')
    throw new ConfigError(`BROKER_CONFIG ${path} is not valid at: ${where}`)
  }
  return parsed.data
}

/**
 * `X-ro` for every Lakebase target `X` (a `databricks` target naming `LAKEBASE_INSTANCE_NAME` or
 * `LAKEBASE_ENDPOINT`) that is not read-only itself: the broker serves it from X's credential
 * whenever X's database has a read-only host. A target the config file names `X-ro` is that
 * target instead; a target whose name ends in `-ro` gets no companion (no `X-ro-ro`), nor one
 * whose companion's name would pass the 64-character limit.
 */
function readOnlyCompanions(targets: readonly TargetConfig[]): CompanionConfig[] {
  const names = new Set(targets.map((t) => t.name))
  const companions: CompanionConfig[] = []
  for (const target of targets) {
    const absentReason = noReadOnlyHostReason(target.env)
    if (target.provider !== 'databricks' || absentReason === undefined) continue
    if (target.name.endsWith(READ_ONLY_SUFFIX)) continue
    if (envValue(target.env, 'LAKEBASE_READ_ONLY') === 'true') continue
    const name = readOnlyTargetName(target.name)
    if (names.has(name) || !targetNameSchema.safeParse(name).success) continue
    const hostGiven = envValue(target.env, 'PGHOST', 'LAKEBASE_HOST') !== undefined
    companions.push({ name, primary: target.name, lookUp: hostGiven, absentReason })
  }
  return companions
}

/** What a companion's 404 says when its database lists no read-only host; undefined: no database named. */
function noReadOnlyHostReason(env: Env): string | undefined {
  const instance = envValue(env, 'LAKEBASE_INSTANCE_NAME')
  const endpoint = envValue(env, 'LAKEBASE_ENDPOINT')
  if (instance !== undefined && endpoint !== undefined) return undefined
  if (instance !== undefined) {
    return `database instance ${instance} has no readable secondaries (its read_only_dns is empty); enable them on the instance`
  }
  if (endpoint !== undefined) {
    return `endpoint ${endpoint} has no read-only host (its status.hosts.read_only_host is empty: one compute, or no readable secondaries); add a compute with readable secondaries to it, or name a read-only endpoint as a target of its own`
  }
  return undefined
}

/**
 * `BROKER_ALLOWED_HOSTS`, plus `BROKER_HOST` when it is a name the broker was told to listen on
 * (not a wildcard address): that is "the configured name" a `Host` header may carry.
 */
function allowedHostNames(list: string, listenHost: string): string[] {
  const names = list
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean)
  const host = listenHost.toLowerCase()
  if (host !== '0.0.0.0' && host !== '::' && !names.includes(host)) names.push(host)
  return names
}
