import { join } from 'node:path'
import type { SslMode } from '../../shared/client/credential.js'
import type { PgbouncerConfig } from './settings.js'

/**
 * The files in PgBouncer's folder, beside its socket. The socket's PgBouncer reads
 * `pgbouncer.ini`, the only file with the Lakebase token; with TCP on, the TCP PgBouncer reads the
 * other three, which hold the clients' tokens and no Lakebase token.
 */
export const CONFIG_FILE = 'pgbouncer.ini'
export const TCP_CONFIG_FILE = 'pgbouncer-tcp.ini'
export const AUTH_FILE = 'users.txt'
export const HBA_FILE = 'hba.conf'
/** A copy of `PGSSLROOTCERT`, where PgBouncer can read it whoever it runs as. */
export const CA_FILE = 'server-ca.pem'

/** The user the broker reads `SHOW POOLS` and `SHOW STATS` as (a `stats_users` entry, no admin). */
export const STATS_USER = 'lakebase_broker'
/**
 * The user name the TCP PgBouncer gives the socket's: any name would do, as that one asks for
 * none. One name makes one pool of relayed connections per database.
 */
export const RELAY_USER = 'lakebase_broker_tcp'
/**
 * The TCP PgBouncer closes a relayed connection idle this long. In session mode an idle one still
 * holds a server connection in the socket's PgBouncer (it is a client there, in session); closing
 * it soon gives that server back to the pool, at the cost of a local reconnect (no password, no
 * TLS) for a TCP client that comes later.
 */
export const RELAY_IDLE_TIMEOUT_S = 1
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
/** The first line of each configuration file. */
const WRITTEN_NOTE = '; Written by lakebase-broker at every credential refresh: edits are lost.'
/** PgBouncer's name for its admin console: no database may be called so. */
export const ADMIN_DATABASE = 'pgbouncer'

/** One `[databases]` entry: a name clients connect to, and the server login behind it. */
export interface PoolerDatabase {
  name: string
  /** A host, or a socket's folder. */
  host: string
  port: number
  dbname: string
  user: string
  /** None in a relay to the socket's PgBouncer, which asks for none. */
  password?: string
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
    ...(db.password === undefined ? [] : [['password', db.password] as const]),
  ] as const
  return `${db.name} = ${pairs.map(([key, value]) => `${key}=${connValue(key, value)}`).join(' ')}`
}

/**
 * `pgbouncer.ini`, for the PgBouncer on the socket. `auth_type = any`: a client gives any user
 * name and no password (the folder's mode is the gate), and PgBouncer logs every one in as the
 * database's `user=`, with the password beside it. The server password sits in each database's
 * connection string: PgBouncer takes a rewritten one at `SIGHUP` and keeps its open server
 * connections (it compares host, port, database and user, not the password), while new logins
 * use the new password. With TCP on, the TCP PgBouncer's connections are clients here too.
 */
export function configText(databases: readonly PoolerDatabase[], s: PoolerSettings): string {
  const relayed = s.tcp ? s.poolSize * databases.length : 0
  return [
    WRITTEN_NOTE,
    '[databases]',
    ...databases.map(databaseLine),
    '',
    '[pgbouncer]',
    'listen_addr = ',
    `listen_port = ${s.port}`,
    `unix_socket_dir = ${s.dir}`,
    // The socket is the owner's alone as well.
    'unix_socket_mode = 0600',
    // Global in PgBouncer: why TCP, which needs passwords, is another PgBouncer.
    'auth_type = any',
    // With `auth_type = any`, PgBouncer 1.18 admits these to the admin console by name.
    `stats_users = ${STATS_USER}`,
    ...poolingLines(s, s.maxClients + relayed),
    `server_lifetime = ${s.serverLifetimeS}`,
    `server_tls_sslmode = ${s.sslMode}`,
    ...(s.caFile ? [`server_tls_ca_file = ${join(s.dir, CA_FILE)}`] : []),
    '',
  ].join('\n')
}

/**
 * `pgbouncer-tcp.ini`, for the PgBouncer on loopback TCP: it checks each client's name and token
 * (the HBA and auth files) and relays it to the socket's PgBouncer, database by database, so the
 * Lakebase token, the server logins and the server pools stay in one place. It has no socket.
 */
export function tcpConfigText(
  databases: readonly string[],
  s: Omit<PoolerSettings, 'sslMode' | 'caFile'>,
): string {
  const relay = (name: string) =>
    databaseLine({ name, host: s.dir, port: s.port, dbname: name, user: RELAY_USER })
  return [
    WRITTEN_NOTE,
    '[databases]',
    ...databases.map(relay),
    '',
    '[pgbouncer]',
    `listen_addr = ${LOOPBACK}`,
    `listen_port = ${s.port}`,
    'unix_socket_dir = ',
    'auth_type = hba',
    `auth_hba_file = ${join(s.dir, HBA_FILE)}`,
    `auth_file = ${join(s.dir, AUTH_FILE)}`,
    ...poolingLines(s, s.maxClients),
    `server_idle_timeout = ${RELAY_IDLE_TIMEOUT_S}`,
    // A unix socket carries no TLS.
    'server_tls_sslmode = disable',
    '',
  ].join('\n')
}

/** What both PgBouncers share: pooling, startup parameters and logging. */
function poolingLines(s: Omit<PoolerSettings, 'sslMode' | 'caFile'>, maxClients: number): string[] {
  return [
    `pool_mode = ${s.poolMode}`,
    `default_pool_size = ${s.poolSize}`,
    `max_client_conn = ${maxClients}`,
    `server_login_retry = ${SERVER_LOGIN_RETRY_S}`,
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
  ]
}

/** The auth file: `"user" "password"` per line. */
export function authText(users: readonly PoolerUser[]): string {
  return users
    .map((u) => `${quoted('user name', u.name)} ${quoted('password', u.password)}\n`)
    .join('')
}

/**
 * The TCP PgBouncer's HBA file: each client by its name and client token (SCRAM), to its own
 * databases only; the admin console never. A name with no line is refused.
 */
export function hbaText(tcp: readonly TcpAccess[]): string {
  const lines = [
    '# Written by lakebase-broker at every credential refresh: edits are lost.',
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
