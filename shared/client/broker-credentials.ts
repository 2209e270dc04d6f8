import { z } from 'zod'
import { type Env, envValue } from '../process/env.js'
import {
  BROKER_TIMEOUT_MS,
  type BrokerCredentials,
  connectBroker,
  DEFAULT_BROKER_URL,
} from './broker-client.js'
import { brokerTokenFile, readTokenFile } from './broker-token.js'
import type { Clock } from './clock.js'
import { LakebaseOptionError } from './errors.js'
import { readOnlyTargetName } from './read-only-target.js'

export const DEFAULT_BROKER_TARGET = 'default'

/**
 * The read-only companion (`<target>-ro`) of the target a client reads by default:
 * `LAKEBASE_BROKER_TARGET`, else `default`. What `readOnly: true` asks the broker for.
 */
export function readOnlyBrokerTarget(env: Env): string {
  return readOnlyTargetName(envValue(env, 'LAKEBASE_BROKER_TARGET') ?? DEFAULT_BROKER_TARGET)
}

/** Options of {@link brokerCredentials}. Every one has a default; most come from the environment. */
export interface BrokerCredentialsOptions {
  /**
   * The broker: `http://host:port` or `unix:/path/to/socket`.
   * @default `LAKEBASE_BROKER_URL`, else `http://127.0.0.1:8990`
   */
  url?: string
  /**
   * The client token sent as `Authorization: Bearer …`.
   * @default `LAKEBASE_BROKER_TOKEN`, else the broker's token file (`BROKER_TOKEN_FILE`, else
   * `$XDG_CONFIG_HOME/lakebase-broker/token`), read when first needed, so a client may be built
   * before the broker has written it
   */
  token?: string
  /**
   * The broker's target (one Postgres login).
   * @default `LAKEBASE_BROKER_TARGET`, else `default`
   */
  target?: string
  /**
   * How long one request to the broker may take, in milliseconds.
   * @default 2000
   */
  timeoutMs?: number
  /**
   * Where the defaults above are read.
   * @default `process.env`
   */
  env?: Env
  /** The clock (tests). @default the system clock */
  clock?: Clock
  /** The fetch used for `http://` brokers (tests). @default `globalThis.fetch` */
  fetch?: typeof globalThis.fetch
  /**
   * `false` gives a client of its own instead of the one shared per process for these options:
   * on Cloudflare Workers, where a promise made by one request cannot be awaited by another.
   * @default true (false when `clock` or `fetch` is given)
   */
  shared?: boolean
}

const targetName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
const optionsSchema = z.object({
  url: z
    .string()
    .regex(/^(https?:\/\/[^/\s]+|unix:\/\S+)/, 'must be an http(s):// URL or unix:/path'),
  token: z.string().min(1, 'must not be empty').optional(),
  target: targetName,
  timeoutMs: z.number().int().positive().max(60_000),
})

/**
 * One process shares one client per broker, target and token: every driver entry (`createSql`,
 * `createPool`, `lakebase()`) built from defaults asks the broker once per refresh, not once each.
 */
const shared = new Map<string, BrokerCredentials>()

/**
 * The current credential for one broker target, kept fresh: from memory until the broker's
 * refresh point, then from the broker (one request however many callers). Its `password()`
 * never rejects, so it can be a driver's password callback; `forget()` is what a driver calls
 * when Postgres refused the password (`28P01`).
 *
 * Built with defaults (no `clock` or `fetch`), one client is shared per process for the same
 * broker, target and token. A wrong option throws {@link LakebaseOptionError} naming it.
 *
 * @example
 * const credentials = brokerCredentials()
 * const { user, password, host } = await credentials.get()
 */
export function brokerCredentials(options: BrokerCredentialsOptions = {}): BrokerCredentials {
  const env = options.env ?? process.env
  const parsed = optionsSchema.safeParse({
    url: options.url ?? envValue(env, 'LAKEBASE_BROKER_URL') ?? DEFAULT_BROKER_URL,
    token: options.token ?? envValue(env, 'LAKEBASE_BROKER_TOKEN'),
    target: options.target ?? envValue(env, 'LAKEBASE_BROKER_TARGET') ?? DEFAULT_BROKER_TARGET,
    timeoutMs: options.timeoutMs ?? BROKER_TIMEOUT_MS,
  })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const option = String(issue?.path[0] ?? 'options')
    const fromEnv = {
      url: 'LAKEBASE_BROKER_URL',
      token: 'LAKEBASE_BROKER_TOKEN',
      target: 'LAKEBASE_BROKER_TARGET',
    }[option]
    const named = options[option as keyof BrokerCredentialsOptions] === undefined && fromEnv
    throw new LakebaseOptionError(named ? `${option} (${fromEnv})` : option, issue?.message ?? '')
  }
  const { url, token, target, timeoutMs } = parsed.data
  // Only when no token is given: on Workers there is no home folder to look in.
  const tokenFile = token === undefined ? brokerTokenFile(env) : ''
  const tokenSource = token ?? (() => readTokenFile(tokenFile))
  if (options.shared !== undefined && typeof options.shared !== 'boolean') {
    throw new LakebaseOptionError('shared', 'must be true or false')
  }
  const custom =
    options.shared === false || options.clock !== undefined || options.fetch !== undefined
  const key = JSON.stringify([url, target, token ?? `file:${tokenFile}`, timeoutMs])
  const existing = custom ? undefined : shared.get(key)
  if (existing) return existing
  const client = connectBroker({
    url,
    token: tokenSource,
    target,
    timeoutMs,
    clock: options.clock,
    fetch: options.fetch,
  })
  if (!custom) shared.set(key, client)
  return client
}
