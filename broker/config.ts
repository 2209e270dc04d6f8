import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { brokerTokenFile } from '../shared/broker-token.js'
import {
  type DatabaseClaim,
  databaseClaimsSchema,
} from '../shared/databricks/credential-request.js'
import { type Env, envValue } from '../shared/env.js'
import { DEFAULT_FORCED_REFRESH_MIN_MS } from './credential-cache.js'
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
  policy: RefreshPolicy
  fetchTimeoutMs: number
  /** At most one refresh forced by a refused credential per target per this; `BROKER_FORCED_REFRESH_MIN_S`. */
  forcedRefreshMinMs: number
  logLevel: string
  statusPage: boolean
  /** `BROKER_PGPASS_FILE`: a libpq password file kept current for every target, if set. */
  pgpassFile?: string
}

/** A configuration problem, reported at start-up before any request is served. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** What the user should set to fix it. */
    readonly suggestion?: string,
  ) {
    super(message)
    this.name = 'ConfigError'
  }
}

const targetNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only')

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

const envSchema = z.object({
  BROKER_HOST: z.string().min(1).default(DEFAULT_BROKER_HOST),
  BROKER_PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_BROKER_PORT),
  BROKER_SOCKET: z.string().min(1).optional(),
  BROKER_ALLOWED_HOSTS: z.string().default(''),
  BROKER_REFRESH_FRACTION: z.coerce.number().gt(0).lt(1).default(DEFAULT_REFRESH_FRACTION),
  BROKER_MIN_TTL_S: z.coerce
    .number()
    .min(0)
    .default(DEFAULT_MIN_TTL_MS / 1000),
  BROKER_OUTAGE_BUDGET_S: z.coerce.number().min(0).optional(),
  BROKER_FETCH_TIMEOUT_S: z.coerce.number().positive().default(15),
  BROKER_FORCED_REFRESH_MIN_S: z.coerce
    .number()
    .min(0)
    .default(DEFAULT_FORCED_REFRESH_MIN_MS / 1000),
  BROKER_STATUS_PAGE: z.enum(['true', 'false']).default('true'),
  BROKER_PGPASS_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

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
  const parsed = envSchema.safeParse(withoutEmpty(env))
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new ConfigError(`invalid broker settings: ${issues}`)
  }
  const e = parsed.data
  const file = readConfigFile(env, options.readFile)

  const targets: TargetConfig[] = []
  const defaultOverride = file.targets[DEFAULT_TARGET]
  const defaultEnv = { ...env, ...defaultOverride?.env }
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
  return {
    listen: socket
      ? { kind: 'socket', path: socket }
      : { kind: 'tcp', host: e.BROKER_HOST, port: e.BROKER_PORT },
    allowedHosts: allowedHostNames(e.BROKER_ALLOWED_HOSTS, e.BROKER_HOST),
    clients,
    tokenFile: brokerTokenFile(env),
    targets,
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
    logLevel: e.LOG_LEVEL,
    statusPage: e.BROKER_STATUS_PAGE === 'true',
    ...(e.BROKER_PGPASS_FILE === undefined ? {} : { pgpassFile: e.BROKER_PGPASS_FILE }),
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

function withoutEmpty(env: Env): Env {
  return Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  )
}
