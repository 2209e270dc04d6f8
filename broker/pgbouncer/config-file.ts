import { join } from 'node:path'
import type { SslMode } from '../../shared/client/credential.js'
import type { PgbouncerConfig } from './settings.js'

/** The files in PgBouncer's folder, beside its socket. */
export const CONFIG_FILE = 'pgbouncer.ini'
export const AUTH_FILE = 'users.txt'
export const HBA_FILE = 'hba.conf'
/** A copy of `PGSSLROOTCERT`, where PgBouncer can read it whoever it runs as. */
export const CA_FILE = 'server-ca.pem'

/** The user the broker reads `SHOW POOLS` and `SHOW STATS` as (a `stats_users` entry, no admin). */
export const STATS_USER = 'lakebase_broker'
/** The only TCP address PgBouncer listens on, when it does. */
export const LOOPBACK = '127.0.0.1'
/**
 * After a refused or failed server login PgBouncer waits this long before the next one
 * (`server_login_retry`, 15 s by default). A refused login makes the broker mint and write a
 * new credential within a second or two; a short wait lets PgBouncer use it at once, at the cost
 * of one login attempt a second against a server that keeps refusing.
 */
export const SERVER_LOGIN_RETRY_S = 1
/**
 * Startup parameters PgBouncer 1.18 would otherwise refuse the connection for: pgjdbc's
 * `extra_float_digits`, and the timeouts `createSql` sends. PgBouncer drops them; the README says
 * so (a client that needs a timeout sets it with `SET` in session mode, or on the role).
 */
export const IGNORED_STARTUP_PARAMETERS = [
  'extra_float_digits',
  'statement_timeout',
  'idle_in_transaction_session_timeout',
] as const
/** Prepared statements PgBouncer 1.21+ tracks per server connection in transaction mode (1.24's default). */
export const MAX_PREPARED_STATEMENTS = 200
/** PgBouncer's name for its admin console: no database may be called so. */
export const ADMIN_DATABASE = 'pgbouncer'

/** One `[databases]` entry: a name clients connect to, and the server login behind it. */
export interface PoolerDatabase {
  name: string
  host: string
  port: number
  dbname: string
  user: string
  password: string
}

/** One auth-file line: a user name PgBouncer knows, and its password for TCP clients. */
export interface PoolerUser {
  name: string
  password: string
}

/** One TCP client: its user name and the databases it may use (`all`, or by name). */
export interface TcpAccess {
  user: string
  databases: readonly string[] | 'all'
}

/** Everything in `pgbouncer.ini` besides the databases: the settings, and what the broker adds. */
export interface PoolerSettings extends Omit<PgbouncerConfig, 'binary'> {
  /** TLS to every server (PgBouncer 1.18 has one setting for all of them). */
  sslMode: SslMode
  /** Whether {@link CA_FILE} is there to check servers' certificates against. */
  caFile: boolean
  /** PgBouncer 1.21+: track prepared statements in transaction mode. */
  preparedStatements: boolean
}

/**
 * Whether `name` can be a database in `pgbouncer.ini`: PgBouncer 1.18 reads a bare word there
 * (a quoted name is a syntax error), at most 63 characters, and reserves `pgbouncer`.
 */
export function isPoolerName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,63}$/.test(name) && name !== ADMIN_DATABASE
}

/**
 * `value` quoted for a connection string as PgBouncer reads it: in single quotes, a quote doubled.
 *
 * @throws Error when it holds a line break or NUL, which no file line can carry (the message
 *   names the field, never the value).
 */
function connValue(field: string, value: string): string {
  refuseBreaks(field, value)
  return `'${value.replaceAll("'", "''")}'`
}

/** `value` double-quoted with `"` doubled: how the auth file and the HBA file quote names. */
function quoted(field: string, value: string): string {
  refuseBreaks(field, value)
  return `"${value.replaceAll('"', '""')}"`
}

function refuseBreaks(field: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw new Error(`the ${field} holds a line break or NUL`)
}

/** One `[databases]` line. */
export function databaseLine(db: PoolerDatabase): string {
  if (!isPoolerName(db.name)) throw new Error(`"${db.name}" cannot name a PgBouncer database`)
  const pairs = [
    ['host', db.host],
    ['port', String(db.port)],
    ['dbname', db.dbname],
    ['user', db.user],
    ['password', db.password],
  ] as const
  return `${db.name} = ${pairs.map(([key, value]) => `${key}=${connValue(key, value)}`).join(' ')}`
}

/**
 * `pgbouncer.ini`. The server password sits in each database's connection string: PgBouncer
 * takes a rewritten one at `SIGHUP` and keeps its open server connections (it compares host,
 * port, database and user, not the password), while new logins use the new password.
 */
export function configText(databases: readonly PoolerDatabase[], s: PoolerSettings): string {
  const lines = [
    '; Written by lakebase-broker at every credential refresh: edits are lost.',
    '[databases]',
    ...databases.map(databaseLine),
    '',
    '[pgbouncer]',
    `listen_addr = ${s.tcp ? LOOPBACK : ''}`,
    `listen_port = ${s.port}`,
    `unix_socket_dir = ${s.dir}`,
    // The folder (0700) is the gate; the socket is the owner's alone as well.
    'unix_socket_mode = 0600',
    'auth_type = hba',
    `auth_hba_file = ${join(s.dir, HBA_FILE)}`,
    `auth_file = ${join(s.dir, AUTH_FILE)}`,
    `stats_users = ${STATS_USER}`,
    `pool_mode = ${s.poolMode}`,
    `default_pool_size = ${s.poolSize}`,
    `max_client_conn = ${s.maxClients}`,
    `server_lifetime = ${s.serverLifetimeS}`,
    `server_login_retry = ${SERVER_LOGIN_RETRY_S}`,
    `server_tls_sslmode = ${s.sslMode}`,
    ...(s.caFile ? [`server_tls_ca_file = ${join(s.dir, CA_FILE)}`] : []),
    `ignore_startup_parameters = ${IGNORED_STARTUP_PARAMETERS.join(',')}`,
    ...(s.preparedStatements && s.poolMode === 'transaction'
      ? [`max_prepared_statements = ${MAX_PREPARED_STATEMENTS}`]
      : []),
    // Logins and closes are how the broker counts server connections and sees a refused login;
    // the figures are read from SHOW STATS, not logged. `verbose` stays 0: from 2 on, PgBouncer
    // logs every connection string it parses, passwords included.
    'log_connections = 1',
    'log_disconnections = 1',
    'log_stats = 0',
    '',
  ]
  return lines.join('\n')
}

/** The auth file: `"user" "password"` per line. */
export function authText(users: readonly PoolerUser[]): string {
  return users
    .map((u) => `${quoted('user name', u.name)} ${quoted('password', u.password)}\n`)
    .join('')
}

/**
 * The HBA file: anyone on the socket (the folder's mode is the gate) without a password; on TCP,
 * each client by its name and client token (SCRAM), to its own databases only; the admin
 * console never over TCP. A name with no line is refused.
 */
export function hbaText(tcp: readonly TcpAccess[]): string {
  const lines = [
    '# Written by lakebase-broker at every credential refresh: edits are lost.',
    'local all all trust',
    `host ${ADMIN_DATABASE} all ${LOOPBACK}/32 reject`,
  ]
  for (const access of tcp) {
    const databases =
      access.databases === 'all'
        ? 'all'
        : access.databases.map((name) => quoted('database', name)).join(',')
    if (databases === '') continue
    lines.push(`host ${databases} ${quoted('user name', access.user)} ${LOOPBACK}/32 scram-sha-256`)
  }
  return `${lines.join('\n')}\n`
}
