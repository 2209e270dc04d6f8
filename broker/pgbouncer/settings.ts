import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { portSchema } from '../../shared/process/common-settings.js'
import { type Env, envValue } from '../../shared/process/env.js'
import {
  booleanText,
  numberSetting,
  type Settings,
  type SettingsValues,
  setting,
} from '../../shared/process/settings.js'

export const POOL_MODES = ['session', 'transaction'] as const
export type PoolMode = (typeof POOL_MODES)[number]

/** PgBouncer's customary port, so a `port=6432` habit works here too. */
export const DEFAULT_PGBOUNCER_PORT = 6432
/** PgBouncer's own `default_pool_size`: server connections per database. */
export const DEFAULT_POOL_SIZE = 20
/** PgBouncer's own `max_client_conn`: it fits the 1024 open files a process gets by default. */
export const DEFAULT_MAX_CLIENTS = 100
/** Lakebase closes a connection after three days, whatever it is doing. */
export const LAKEBASE_CONNECTION_LIMIT_S = 3 * 24 * 60 * 60
/**
 * PgBouncer retires an idle server connection this old. A third of Lakebase's limit: a
 * connection is replaced while idle, long before Lakebase would cut it mid-transaction, and a
 * pool logs in again about once a day per connection, not hourly as PgBouncer's default would.
 */
export const DEFAULT_SERVER_LIFETIME_S = LAKEBASE_CONNECTION_LIMIT_S / 3

/** A whole number of at least 1. */
const count = () => numberSetting().int('must be a whole number').min(1, 'must be 1 or more')

/** The settings of the local PgBouncer the broker runs (README: "Any client, one local endpoint"). */
export const pgbouncerSettings = {
  BROKER_PGBOUNCER: setting(
    booleanText.default('false'),
    'run PgBouncer as a local endpoint for any Postgres client, kept logged in with each new credential',
  ),
  BROKER_PGBOUNCER_PATH: setting(
    z.string().min(1).optional(),
    'the `pgbouncer` program (package `pgbouncer`)',
    '`pgbouncer` on `PATH`, else `/usr/sbin/pgbouncer`',
  ),
  BROKER_PGBOUNCER_DIR: setting(
    z.string().min(1).optional(),
    "PgBouncer's private folder (mode 0700): its configuration, auth file and socket, each 0600",
    '`~/.lakebase/pgbouncer`',
  ),
  BROKER_PGBOUNCER_PORT: setting(
    portSchema.min(1, 'must be a port (1–65535)').default(DEFAULT_PGBOUNCER_PORT),
    'the socket is `BROKER_PGBOUNCER_DIR/.s.PGSQL.<port>`; the TCP port too',
  ),
  BROKER_PGBOUNCER_TCP: setting(
    booleanText.default('false'),
    'also listen on 127.0.0.1 at that port, in a second PgBouncer (user: a client name, password: its client token)',
  ),
  BROKER_PGBOUNCER_POOL_MODE: setting(
    z.enum(POOL_MODES, { error: `must be one of ${POOL_MODES.join(', ')}` }).default('session'),
    '`session` (a client keeps its server connection) or `transaction` (only for one transaction: no session state, see the README)',
  ),
  BROKER_PGBOUNCER_POOL_SIZE: setting(
    count().default(DEFAULT_POOL_SIZE),
    'server connections per database, however many clients',
  ),
  BROKER_PGBOUNCER_MAX_CLIENTS: setting(
    count().default(DEFAULT_MAX_CLIENTS),
    'client connections PgBouncer accepts at once on the socket, and as many on TCP',
  ),
  BROKER_PGBOUNCER_SERVER_LIFETIME_S: setting(
    count().default(DEFAULT_SERVER_LIFETIME_S),
    "an idle server connection older than this is closed; below Lakebase's 3-day limit",
  ),
} satisfies Settings

/** The local PgBouncer, as `BROKER_PGBOUNCER_*` configure it. */
export interface PgbouncerConfig {
  /** `BROKER_PGBOUNCER_PATH`, when given; otherwise it is looked for. */
  binary?: string
  dir: string
  port: number
  tcp: boolean
  poolMode: PoolMode
  poolSize: number
  maxClients: number
  serverLifetimeS: number
}

/** The PgBouncer configuration when `BROKER_PGBOUNCER=true`, else undefined. */
export function pgbouncerConfig(
  values: SettingsValues<typeof pgbouncerSettings>,
  env: Env,
): PgbouncerConfig | undefined {
  if (values.BROKER_PGBOUNCER !== 'true') return undefined
  const home = envValue(env, 'HOME') ?? homedir()
  return {
    ...(values.BROKER_PGBOUNCER_PATH === undefined ? {} : { binary: values.BROKER_PGBOUNCER_PATH }),
    dir: resolve(values.BROKER_PGBOUNCER_DIR ?? join(home, '.lakebase', 'pgbouncer')),
    port: values.BROKER_PGBOUNCER_PORT,
    tcp: values.BROKER_PGBOUNCER_TCP === 'true',
    poolMode: values.BROKER_PGBOUNCER_POOL_MODE,
    poolSize: values.BROKER_PGBOUNCER_POOL_SIZE,
    maxClients: values.BROKER_PGBOUNCER_MAX_CLIENTS,
    serverLifetimeS: values.BROKER_PGBOUNCER_SERVER_LIFETIME_S,
  }
}
