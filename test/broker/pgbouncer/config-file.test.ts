import { describe, expect, it } from 'vitest'
import { ConfigError, resolveBrokerConfig } from '../../../broker/config.js'
import { parseVersion } from '../../../broker/pgbouncer/binary.js'
import {
  authText,
  configText,
  databaseLine,
  hbaText,
  isPoolerName,
  type PoolerSettings,
  tcpConfigText,
} from '../../../broker/pgbouncer/config-file.js'
import {
  DEFAULT_SERVER_LIFETIME_S,
  LAKEBASE_CONNECTION_LIMIT_S,
} from '../../../broker/pgbouncer/settings.js'

const settings: PoolerSettings = {
  dir: '/run/lb',
  port: 6432,
  tcp: false,
  poolMode: 'session',
  poolSize: 20,
  maxClients: 100,
  serverLifetimeS: 86_400,
  sslMode: 'verify-full',
  caFile: false,
  preparedStatements: false,
}

const db = {
  name: 'databricks_postgres',
  host: 'instance.database.cloud.databricks.com',
  port: 5432,
  dbname: 'databricks_postgres',
  user: 'alice@example.com',
  password: 'eyJ.token',
}

const lines = (text: string) => text.split('\n')

describe("PgBouncer's configuration, as the broker writes it", () => {
  it('puts the server login in the connection string, every value quoted', () => {
    expect(databaseLine(db)).toBe(
      "databricks_postgres = host='instance.database.cloud.databricks.com' port='5432' dbname='databricks_postgres' user='alice@example.com' password='eyJ.token'",
    )
  })

  it("doubles a single quote, PgBouncer's escape, and keeps ; # = and spaces inside the quotes", () => {
    expect(databaseLine({ ...db, password: `we'ird ;#"= pass` })).toContain(
      `password='we''ird ;#"= pass'`,
    )
  })

  it('refuses a line break or NUL, naming the field and never the value', () => {
    expect(() => databaseLine({ ...db, password: 'secret\nnext' })).toThrow(
      /^the password holds a line break or NUL$/,
    )
    expect(() => authText([{ name: 'a', password: 'x\0y' }])).toThrow(/^the password holds/)
  })

  it.each([
    ['databricks_postgres', true],
    ['reporting-ro', true],
    ['a.b_c-1', true],
    ['pgbouncer', false],
    ['has space', false],
    ['quote"d', false],
    ['', false],
    ['x'.repeat(64), false],
  ])('accepts %j as a database name: %s (PgBouncer 1.18 reads bare words only)', (name, ok) => {
    expect(isPoolerName(name)).toBe(ok)
  })

  it('listens on the socket only, mode 0600, TCP or not: loopback TCP is another PgBouncer', () => {
    for (const tcp of [false, true]) {
      const socket = lines(configText([db], { ...settings, tcp }))
      expect(socket).toContain('listen_addr = ')
      expect(socket).toContain('unix_socket_dir = /run/lb')
      expect(socket).toContain('unix_socket_mode = 0600')
    }
    const tcp = lines(tcpConfigText([db.name], { ...settings, tcp: true }))
    expect(tcp).toContain('listen_addr = 127.0.0.1')
    expect(tcp).toContain('listen_port = 6432')
    // No socket of its own: the path is the other PgBouncer's.
    expect(tcp).toContain('unix_socket_dir = ')
  })

  it('takes any user name on the socket with no password, reads stats as its own user, and never logs verbosely', () => {
    const text = lines(configText([db], settings))
    expect(text).toEqual(
      expect.arrayContaining(['auth_type = any', 'stats_users = lakebase_broker', 'log_stats = 0']),
    )
    for (const key of ['verbose', 'admin_users', 'auth_file', 'auth_hba_file', 'auth_user'])
      expect({ key, set: text.some((l) => l.startsWith(key)) }).toEqual({ key, set: false })
  })

  it('checks TCP clients by the HBA and auth files, and relays them to the socket with no password', () => {
    const text = lines(
      tcpConfigText(['databricks_postgres', 'reporting'], { ...settings, tcp: true }),
    )
    expect(text).toEqual(
      expect.arrayContaining([
        "databricks_postgres = host='/run/lb' port='6432' dbname='databricks_postgres' user='lakebase_broker_tcp'",
        "reporting = host='/run/lb' port='6432' dbname='reporting' user='lakebase_broker_tcp'",
        'auth_type = hba',
        'auth_hba_file = /run/lb/hba.conf',
        'auth_file = /run/lb/users.txt',
        'server_idle_timeout = 1',
        'server_tls_sslmode = disable',
        'log_stats = 0',
      ]),
    )
    expect(text.join('\n')).not.toContain('password')
    expect(text.some((l) => l.startsWith('verbose'))).toBe(false)
  })

  it("counts the TCP PgBouncer's relayed connections, at most a pool per database, on top of the socket's clients", () => {
    const two = [db, { ...db, name: 'reporting' }]
    expect(lines(configText(two, settings))).toContain('max_client_conn = 100')
    expect(lines(configText(two, { ...settings, tcp: true }))).toContain('max_client_conn = 140')
    expect(lines(tcpConfigText(['a', 'b'], { ...settings, tcp: true }))).toContain(
      'max_client_conn = 100',
    )
  })

  it('logs in to servers over TLS as asked, with the copied CA when there is one', () => {
    expect(lines(configText([db], settings))).toContain('server_tls_sslmode = verify-full')
    expect(lines(configText([db], settings)).some((l) => l.startsWith('server_tls_ca_file'))).toBe(
      false,
    )
    expect(lines(configText([db], { ...settings, caFile: true }))).toContain(
      'server_tls_ca_file = /run/lb/server-ca.pem',
    )
  })

  it('keeps prepared statements in transaction mode only where PgBouncer can (1.21+)', () => {
    const has = (s: PoolerSettings) =>
      lines(configText([db], s)).some((l) => l.startsWith('max_prepared_statements'))
    expect(has({ ...settings, poolMode: 'transaction', preparedStatements: true })).toBe(true)
    expect(has({ ...settings, poolMode: 'transaction', preparedStatements: false })).toBe(false)
    expect(has({ ...settings, poolMode: 'session', preparedStatements: true })).toBe(false)
  })

  it('writes pool mode, pool size, the client limit and server_lifetime as set', () => {
    expect(
      lines(
        configText([db], {
          ...settings,
          poolMode: 'transaction',
          poolSize: 7,
          maxClients: 300,
          serverLifetimeS: 600,
        }),
      ),
    ).toEqual(
      expect.arrayContaining([
        'pool_mode = transaction',
        'default_pool_size = 7',
        'max_client_conn = 300',
        'server_lifetime = 600',
      ]),
    )
  })

  it('quotes auth-file names and passwords with doubled double quotes', () => {
    expect(
      authText([
        { name: 'default', password: 'tok"en' },
        { name: 'x', password: 'y' },
      ]),
    ).toBe('"default" "tok""en"\n"x" "y"\n')
  })

  it('keeps the admin console off TCP, and lets each TCP client in to its databases only', () => {
    expect(
      hbaText([
        { user: 'default', databases: 'all' },
        { user: 'reports', databases: ['reporting', 'reporting-ro'] },
        { user: 'nobody', databases: [] },
      ]).split('\n'),
    ).toEqual([
      expect.stringMatching(/^#/),
      'host pgbouncer all 127.0.0.1/32 reject',
      'host all "default" 127.0.0.1/32 scram-sha-256',
      'host "reporting","reporting-ro" "reports" 127.0.0.1/32 scram-sha-256',
      '',
    ])
  })
})

describe('parseVersion', () => {
  it.each([
    ['PgBouncer 1.18.0\nlibevent 2.1.12-stable', '1.18.0', false, 'SIGTERM'],
    ['PgBouncer 1.21.0', '1.21.0', true, 'SIGTERM'],
    ['PgBouncer 1.23.1', '1.23.1', true, 'SIGQUIT'],
    ['PgBouncer 2.0', '2.0.0', true, 'SIGQUIT'],
  ])('reads %j as %s: prepared statements %s, stopped by %s', (output, text, prepared, signal) => {
    expect(parseVersion(output)).toMatchObject({
      text,
      preparedStatements: prepared,
      stopSignal: signal,
    })
  })

  it('answers undefined for anything else', () => {
    expect(parseVersion('pgbouncer: command not found')).toBeUndefined()
  })
})

describe('BROKER_PGBOUNCER_* settings', () => {
  const env = { PGPASSWORD: 'x', PGUSER: 'u', HOME: '/home/alice' }

  it('leave PgBouncer off by default', () => {
    expect(resolveBrokerConfig(env).pgbouncer).toBeUndefined()
  })

  it('default to session mode on ~/.lakebase/pgbouncer, port 6432, socket only', () => {
    expect(resolveBrokerConfig({ ...env, BROKER_PGBOUNCER: 'true' }).pgbouncer).toEqual({
      dir: '/home/alice/.lakebase/pgbouncer',
      port: 6432,
      tcp: false,
      poolMode: 'session',
      poolSize: 20,
      maxClients: 100,
      serverLifetimeS: DEFAULT_SERVER_LIFETIME_S,
    })
  })

  it("keep server_lifetime below Lakebase's three-day limit by default", () => {
    expect(DEFAULT_SERVER_LIFETIME_S).toBeLessThan(LAKEBASE_CONNECTION_LIMIT_S)
  })

  it('take every setting from the environment', () => {
    expect(
      resolveBrokerConfig({
        ...env,
        BROKER_PGBOUNCER: 'true',
        BROKER_PGBOUNCER_PATH: '/opt/pgbouncer',
        BROKER_PGBOUNCER_DIR: '/run/lb',
        BROKER_PGBOUNCER_PORT: '7000',
        BROKER_PGBOUNCER_TCP: 'true',
        BROKER_PGBOUNCER_POOL_MODE: 'transaction',
        BROKER_PGBOUNCER_POOL_SIZE: '5',
        BROKER_PGBOUNCER_MAX_CLIENTS: '500',
        BROKER_PGBOUNCER_SERVER_LIFETIME_S: '3600',
      }).pgbouncer,
    ).toEqual({
      binary: '/opt/pgbouncer',
      dir: '/run/lb',
      port: 7000,
      tcp: true,
      poolMode: 'transaction',
      poolSize: 5,
      maxClients: 500,
      serverLifetimeS: 3600,
    })
  })

  it.each([
    ['BROKER_PGBOUNCER_POOL_MODE', 'statement'],
    ['BROKER_PGBOUNCER_PORT', '0'],
    ['BROKER_PGBOUNCER_POOL_SIZE', '0'],
    ['BROKER_PGBOUNCER_SERVER_LIFETIME_S', '1.5'],
  ])('refuse %s=%s at start-up, naming the variable', (name, value) => {
    expect(() => resolveBrokerConfig({ ...env, BROKER_PGBOUNCER: 'true', [name]: value })).toThrow(
      ConfigError,
    )
    expect(() => resolveBrokerConfig({ ...env, BROKER_PGBOUNCER: 'true', [name]: value })).toThrow(
      name,
    )
  })
})
