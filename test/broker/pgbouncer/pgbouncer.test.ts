import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterEach, expect, it } from 'vitest'
import type { RunningBroker } from '../../../broker/broker.js'
import type { CredentialCache } from '../../../broker/credential-cache.js'
import type { Pgbouncer } from '../../../broker/pgbouncer/pgbouncer.js'
import type { BrokerCredentials } from '../../../shared/client/broker-client.js'
import type { Credential } from '../../../shared/client/credential.js'
import { createPool } from '../../../shared/pg/create-pool.js'
import { createSql } from '../../../shared/postgres/create-sql.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../../support/broker.js'
import { freePort } from '../../support/free-port.js'
import { type LakebaseLike, lakebaseLike } from '../../support/lakebase-like.js'
import { type LibpqTarget, pgbench, psql } from '../../support/libpq-tools.js'
import { pgbouncerMissing } from '../../support/pgbouncer.js'
import { adminSql } from '../../support/postgres.js'
import { isRunning, listeningSockets, readProcess } from '../../support/process-tree.js'
import { describeRequiring } from '../../support/requirement.js'
import { waitFor } from '../../support/wait-for.js'

/** Rotations every test lives through: the "at least 3". */
const ROTATIONS = 3
/** pgbench's clients: a few, as services on one host would be. */
const PGBENCH_CLIENTS = 4
/** Transactions per pgbench client: enough that every rotation lands while it runs. */
const PGBENCH_TRANSACTIONS = 400
/** Generous for a real process on a busy 2-core machine; the conditions usually hold in ms. */
const SLOW_MS = 30_000
/**
 * User names no one configured, as socket clients give them: libpq's default (the
 * operating-system user), made-up ones, spaces and quotes, non-ASCII, and 63 bytes (Postgres's
 * longest name).
 */
const MADE_UP_USERS = [
  process.env.USER ?? 'root',
  'whoever',
  'Ann Smith',
  `o'brien "x"; drop`,
  'ünïcødé-用户',
  'x'.repeat(63),
]

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step()
})

interface Setup {
  lakebase: LakebaseLike
  broker: RunningBroker
  pgbouncer: Pgbouncer
  cache: CredentialCache
  logs: { text(): string }
  dir: string
  /** The default target, on the socket, as the Lakebase role. */
  socket: LibpqTarget
  /** The default target on loopback TCP (with `BROKER_PGBOUNCER_TCP=true`), as the client `default`. */
  tcp: LibpqTarget
  /** Moves the broker's clock to its refresh point; resolves once PgBouncer has loaded the new credential. */
  rotate(): Promise<void>
}

async function setUp(env: Record<string, string> = {}): Promise<Setup> {
  const lakebase = await lakebaseLike({ lifetimeS: 3600 })
  cleanups.push(() => lakebase.close())
  const tmp = await tempDir('pgbouncer-')
  cleanups.push(() => rm(tmp, { recursive: true, force: true }))
  const dir = join(tmp, 'pgbouncer')
  const clock = new ManualClock(Date.now())
  const port = await freePort()
  const { broker, logs } = await startTestBroker(
    {
      ...lakebase.brokerEnv,
      BROKER_PGBOUNCER: 'true',
      BROKER_PGBOUNCER_DIR: dir,
      BROKER_PGBOUNCER_PORT: String(port),
      ...env,
    },
    { clock },
  )
  cleanups.push(() => broker.close())
  const pgbouncer = broker.pgbouncer
  const cache = broker.caches.get('default')
  if (!pgbouncer || !cache) throw new Error('the broker runs no PgBouncer or has no default target')
  // The socket's PgBouncer: the TCP one's lines carry `pgbouncerListener`.
  const reloads = () =>
    logs
      .text()
      .split('\n')
      .filter((line) => line.includes('got SIGHUP') && !line.includes('"pgbouncerListener"')).length
  const socket = { host: dir, port, database: lakebase.db.database, user: lakebase.role }
  // Loaded once PgBouncer answers for the database: the first credential is written and reloaded.
  await waitFor(() => psql(socket, 'select 1').then(() => true), {
    what: 'PgBouncer serving the default target',
    retryErrors: true,
    timeoutMs: SLOW_MS,
  })
  return {
    lakebase,
    broker,
    pgbouncer,
    cache,
    logs,
    dir,
    socket,
    tcp: { ...socket, host: '127.0.0.1', user: 'default', password: TEST_CLIENT_TOKEN },
    async rotate() {
      const refreshes = cache.status().history.length
      const before = reloads()
      await clock.advance((cache.status().refreshAt ?? Number.NaN) - clock.now())
      await waitFor(() => cache.status().history.length > refreshes, { what: 'a refresh' })
      await waitFor(() => reloads() > before, { what: 'PgBouncer reloading', timeoutMs: SLOW_MS })
    },
  }
}

const mode = async (path: string) => (await stat(path)).mode & 0o777

describeRequiring(pgbouncerMissing, 'the local PgBouncer (BROKER_PGBOUNCER=true)', () => {
  it('serves psql on its socket under any user name with no password, logged in as the Lakebase role, from a 0700 folder of 0600 files', async () => {
    const { socket, dir, pgbouncer, lakebase } = await setUp()
    for (const user of [lakebase.role, ...MADE_UP_USERS])
      expect({ user, rows: await psql({ ...socket, user }, 'select current_user') }).toEqual({
        user,
        rows: [lakebase.role],
      })
    expect(await mode(dir)).toBe(0o700)
    for (const file of ['pgbouncer.ini', `.s.PGSQL.${socket.port}`])
      expect({ file, mode: await mode(join(dir, file)) }).toEqual({ file, mode: 0o600 })
    // No TCP unless asked for: no TCP PgBouncer, and no file with a client's token.
    expect(listeningSockets(pgbouncer.pid ?? 0)).toEqual([])
    expect(pgbouncer.tcpPid).toBeUndefined()
    for (const file of TCP_FILES) await expect(stat(join(dir, file))).rejects.toThrow(/ENOENT/)
    // Whatever the name, the admin console refuses admin commands (it shows figures only).
    await expect(
      psql({ ...socket, user: 'whoever', database: 'pgbouncer' }, 'reload'),
    ).rejects.toThrow(/admin access needed/)
  })

  it('takes made-up user names on its socket with no password through rotations, while TCP still wants a client token', async () => {
    const { socket, tcp, rotate, lakebase, pgbouncer } = await setUp({
      BROKER_PGBOUNCER_TCP: 'true',
    })
    const admin = adminSql()
    cleanups.push(() => admin.end())
    const opened = pgbouncer.status().serverConnections
    for (let round = 0; round <= ROTATIONS; round++) {
      // Every round logs in to the server again, with the token of that round.
      await dropServerConnections(pgbouncer, admin, lakebase.role)
      for (const user of MADE_UP_USERS)
        expect({
          round,
          user,
          rows: await psql({ ...socket, user }, 'select current_user'),
        }).toEqual({ round, user, rows: [lakebase.role] })
      expect(await psql(tcp, 'select current_user')).toEqual([lakebase.role])
      await expect(psql({ ...tcp, password: 'wrong' }, 'select 1')).rejects.toThrow(
        /authentication failed/,
      )
      // On TCP a made-up name is refused, whatever the password.
      await expect(
        psql({ ...tcp, user: 'whoever', password: TEST_CLIENT_TOKEN }, 'select 1'),
      ).rejects.toThrow()
      if (round < ROTATIONS) await rotate()
    }
    expect(lakebase.workspace.credentials).toHaveLength(ROTATIONS + 1)
    expect(pgbouncer.status().serverConnections - opened).toBeGreaterThanOrEqual(ROTATIONS + 1)
    expect(pgbouncer.status().refusedLogins).toBe(0)
  })

  it('keeps its server connections through rotations (same backend PID), and logs in new ones with the newest token', async () => {
    const { socket, rotate, lakebase, pgbouncer } = await setUp()
    const [pid] = await psql(socket, 'select pg_backend_pid()')
    const opened = pgbouncer.status().serverConnections
    for (let i = 0; i < ROTATIONS; i++) await rotate()
    // The same server connection, idle in the pool across three reloads.
    expect(await psql(socket, 'select pg_backend_pid()')).toEqual([pid])
    expect(pgbouncer.status().serverConnections).toBe(opened)
    // The old tokens no longer log in (the strict server), yet a new server login works.
    const admin = adminSql()
    cleanups.push(() => admin.end())
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
    const [after] = await psql(socket, 'select pg_backend_pid()')
    expect(after).not.toBe(pid)
    expect(lakebase.workspace.credentials).toHaveLength(ROTATIONS + 1)
  })

  it(`runs pgbench with a new connection per transaction and without, ${PGBENCH_CLIENTS} clients, through ${ROTATIONS} rotations, with no failed transaction and no new server login`, async () => {
    const setup = await setUp()
    const { cache, lakebase } = setup
    await initPgbench(setup)
    const figures: Record<string, unknown> = {}
    for (const connectEach of [true, false]) {
      const run = await pgbenchThroughRotations(setup, connectEach)
      figures[connectEach ? 'pgbench -C' : 'pgbench'] = run.figures
      expect(run.result.processed, run.result.output).toBe(PGBENCH_CLIENTS * PGBENCH_TRANSACTIONS)
      expect(run.result.failed).toBe(0)
      expect(run.result.aborted).toBe(0)
      // The server connections opened before the rotations carried the whole run.
      expect(run.opened).toEqual([0, 0, 0])
    }
    expect(cache.status().forcedRefreshes).toBe(0)
    expect(lakebase.workspace.credentials).toHaveLength(2 * ROTATIONS + 1)
    if (process.env.SHOW_FIGURES) console.log(figures)
  }, 300_000)

  it('bounds what a server login that races a rotation on the strict server costs: it mints nothing, and PgBouncer retries after server_login_retry', async () => {
    // Server connections retired after a second: PgBouncer logs in again and again, and some
    // login meets the moment a rotation has revoked the old token (the strict server does that at
    // the mint; Lakebase does not) and PgBouncer has not yet reloaded the new one.
    const setup = await setUp({ BROKER_PGBOUNCER_SERVER_LIFETIME_S: '1' })
    const { cache, lakebase, pgbouncer } = setup
    await initPgbench(setup)
    const run = await pgbenchThroughRotations(setup, true)
    const refused = pgbouncer.status().refusedLogins
    if (process.env.SHOW_FIGURES) console.log({ 'pgbench -C, server_lifetime 1 s': run.figures })
    // A refused login reports the credential PgBouncer had loaded, already replaced: no mint.
    expect(cache.status().forcedRefreshes).toBe(0)
    expect(lakebase.workspace.credentials).toHaveLength(ROTATIONS + 1)
    // While the last login failed and the pool holds no server (at most server_login_retry,
    // 1 s), PgBouncer turns new clients away; pgbench then gives up on that client.
    if (refused === 0) expect(run.result.aborted).toBe(0)
    expect(run.result.aborted).toBeLessThanOrEqual(
      Math.min(PGBENCH_CLIENTS, refused * PGBENCH_CLIENTS),
    )
    expect(run.result.failed).toBe(0)
    expect(run.result.output).not.toMatch(/password authentication failed/)
  }, 300_000)

  it('serves createSql and createPool pointed at its socket through rotations', async () => {
    const { socket, rotate, lakebase } = await setUp()
    const credentials = socketCredentials(socket)
    const sql = createSql({ credentials, env: {}, max: 2 })
    cleanups.push(() => sql.end())
    const pool = createPool({ credentials, env: {}, max: 2 })
    cleanups.push(() => pool.end())
    for (let round = 0; round <= ROTATIONS; round++) {
      const [row] = await sql`select current_user as role, ${round}::int as round`
      expect(row).toEqual({ role: lakebase.role, round })
      const { rows } = await pool.query('select current_user as role, $1::int as round', [round])
      expect(rows).toEqual([{ role: lakebase.role, round }])
      if (round < ROTATIONS) await rotate()
    }
  })

  it("keeps every minted token out of its log and out of the TCP PgBouncer's files, and client tokens out of the log", async () => {
    const { socket, tcp, rotate, logs, lakebase, dir } = await setUp({
      BROKER_PGBOUNCER_TCP: 'true',
    })
    for (let i = 0; i < ROTATIONS; i++) {
      await psql(socket, 'select 1')
      await psql(tcp, 'select 1')
      await rotate()
    }
    const tcpFiles = await Promise.all(TCP_FILES.map((f) => readFile(join(dir, f), 'utf8')))
    const config = await readFile(join(dir, 'pgbouncer.ini'), 'utf8')
    const tokens = lakebase.workspace.credentials.map((c) => c.token)
    expect(tokens).toHaveLength(ROTATIONS + 1)
    // Both PgBouncers' lines are in the broker's log, at debug.
    expect(logs.text()).toMatch(/"pgbouncerListener":"tcp"[^\n]*got SIGHUP/)
    for (const token of tokens) {
      expect(logs.text()).not.toContain(token)
      for (const text of tcpFiles) expect(text).not.toContain(token)
    }
    expect(config).toContain(tokens.at(-1))
    expect(logs.text()).not.toContain(TEST_CLIENT_TOKEN)
    for (const file of TCP_FILES)
      expect({ file, mode: await mode(join(dir, file)) }).toEqual({ file, mode: 0o600 })
  })

  it('forces a refresh when Postgres refuses its server login (28P01), as a client would', async () => {
    const { socket, cache, lakebase, pgbouncer } = await setUp()
    const admin = adminSql()
    cleanups.push(() => admin.end())
    // Another minter replaced the password; PgBouncer's next server login is refused.
    await admin.unsafe(`alter role "${lakebase.role}" with password 'someone-else-minted-this'`)
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
    const minted = lakebase.workspace.credentials.length
    // The client waits in PgBouncer's queue while the broker mints and PgBouncer logs in again.
    expect(await psql(socket, 'select current_user')).toEqual([lakebase.role])
    expect(cache.status().forcedRefreshes).toBe(1)
    expect(lakebase.workspace.credentials).toHaveLength(minted + 1)
    expect(pgbouncer.status().refusedLogins).toBeGreaterThanOrEqual(1)
  })

  it('is restarted when it dies, and serves again', async () => {
    const { socket, pgbouncer } = await setUp()
    const first = pgbouncer.pid ?? 0
    const before = readProcess(first)
    process.kill(first, 'SIGKILL')
    await waitFor(() => pgbouncer.pid !== undefined && pgbouncer.pid !== first, {
      what: 'a new PgBouncer',
      timeoutMs: SLOW_MS,
    })
    expect(await psql(socket, 'select 1')).toEqual(['1'])
    expect(pgbouncer.status().restarts).toBe(1)
    expect(before).toBeDefined()
    if (before) expect(isRunning(before)).toBe(false)
  })

  it('restarts either PgBouncer when it dies, with TCP on, and both serve again', async () => {
    const { socket, tcp, pgbouncer } = await setUp({ BROKER_PGBOUNCER_TCP: 'true' })
    expect(await psql(tcp, 'select 1')).toEqual(['1'])
    const which = [
      ['the TCP PgBouncer', () => pgbouncer.tcpPid],
      ["the socket's PgBouncer", () => pgbouncer.pid],
    ] as const
    for (const [index, [what, pid]] of which.entries()) {
      const first = pid() ?? 0
      process.kill(first, 'SIGKILL')
      await waitFor(() => pid() !== undefined && pid() !== first, {
        what: `a new ${what}`,
        timeoutMs: SLOW_MS,
      })
      expect(await psql({ ...socket, user: 'whoever' }, 'select 1')).toEqual(['1'])
      // The TCP PgBouncer's connections to the killed socket closed with it; it opens new ones.
      expect(await psql(tcp, 'select 1')).toEqual(['1'])
      expect(pgbouncer.status().restarts).toBe(index + 1)
      expect(listeningSockets(pgbouncer.tcpPid ?? 0)).toEqual([
        { host: '127.0.0.1', port: socket.port },
      ])
    }
    expect(pgbouncer.status().up).toBe(true)
  })

  it('pools by transaction on request: two open clients share one server connection', async () => {
    const { socket, tcp, logs, pgbouncer, lakebase } = await setUp({
      BROKER_PGBOUNCER_POOL_MODE: 'transaction',
      BROKER_PGBOUNCER_POOL_SIZE: '1',
      BROKER_PGBOUNCER_TCP: 'true',
    })
    // PgBouncer 1.18 keeps no protocol-level prepared statements across server connections.
    expect(logs.text()).toContain('cannot keep protocol-level prepared statements')
    const open = () =>
      postgres({
        host: socket.host,
        port: socket.port,
        database: socket.database,
        username: socket.user,
        max: 1,
        prepare: false,
        onnotice: () => {},
      })
    const [a, b] = [open(), open()]
    cleanups.push(() => Promise.all([a.end(), b.end()]))
    const [[first], [second]] = await Promise.all([
      a`select pg_backend_pid() as pid`,
      b`select pg_backend_pid() as pid`,
    ])
    expect(first?.pid).toBe(second?.pid)
    expect((await pgbouncer.figures()).pools[0]).toMatchObject({
      poolMode: 'transaction',
      clientsActive: 2,
    })
    // TCP clients, relayed by transaction too, share it with them.
    expect(await psql(tcp, 'begin; select current_user; commit')).toEqual([
      'BEGIN',
      lakebase.role,
      'COMMIT',
    ])
    expect(await psql(tcp, 'select pg_backend_pid()')).toEqual([String(first?.pid)])
  })

  it("gives a TCP client's server connection back to socket clients soon after it leaves, in session mode", async () => {
    const { socket, tcp } = await setUp({
      BROKER_PGBOUNCER_TCP: 'true',
      BROKER_PGBOUNCER_POOL_SIZE: '1',
    })
    const [pid] = await psql(tcp, 'select pg_backend_pid()')
    // One server connection in all: the socket client waits for the one the TCP client used,
    // which its idle relayed connection holds until the TCP PgBouncer closes it.
    expect(await psql({ ...socket, user: 'whoever' }, 'select pg_backend_pid()')).toEqual([pid])
  })

  it('listens on loopback TCP when asked, in a PgBouncer of its own, for the client token only', async () => {
    const { socket, tcp, pgbouncer, lakebase } = await setUp({ BROKER_PGBOUNCER_TCP: 'true' })
    expect(await psql(tcp, 'select current_user')).toEqual([lakebase.role])
    await expect(psql({ ...tcp, password: 'wrong' }, 'select 1')).rejects.toThrow(
      /authentication failed/,
    )
    // The Lakebase token is no client's password.
    const token = lakebase.workspace.credentials.at(-1)?.token ?? ''
    await expect(
      psql({ ...tcp, user: lakebase.role, password: token }, 'select 1'),
    ).rejects.toThrow()
    await expect(psql({ ...tcp, database: 'pgbouncer' }, 'show pools')).rejects.toThrow()
    // The socket's PgBouncer listens on no TCP port; the TCP one on loopback alone.
    expect(listeningSockets(pgbouncer.pid ?? 0)).toEqual([])
    expect(pgbouncer.tcpPid).not.toBe(pgbouncer.pid)
    expect(listeningSockets(pgbouncer.tcpPid ?? 0)).toEqual([
      { host: '127.0.0.1', port: socket.port },
    ])
  })

  it('shows its pools on the status page and in /metrics', async () => {
    const { socket, broker, lakebase } = await setUp()
    await psql(socket, 'select 1')
    const metrics = await (await fetch(`${broker.url}/metrics`)).text()
    expect(metrics).toContain('lakebase_broker_pgbouncer_up 1')
    expect(metrics).toContain(
      `lakebase_broker_pgbouncer_servers{database="${lakebase.db.database}",state="idle"} 1`,
    )
    expect(metrics).toMatch(/lakebase_broker_pgbouncer_server_connections_total\{[^}]*\} 1/)
    const view = await waitFor(
      async () => {
        const json = (await (await fetch(`${broker.url}/status.json`)).json()) as {
          pgbouncer: { up: boolean; pools: { database: string; transactions: number }[] } | null
        }
        return json.pgbouncer?.pools.length ? json.pgbouncer : undefined
      },
      { what: 'pool figures on /status.json' },
    )
    expect(view.up).toBe(true)
    expect(view.pools[0]?.database).toBe(lakebase.db.database)
    const page = await (await fetch(broker.url)).text()
    expect(page).toContain('PgBouncer 1.')
  })

  it('leaves no PgBouncer behind once the broker stops, with TCP on: neither process, nor port', async () => {
    const { broker, pgbouncer, socket, tcp, dir } = await setUp({ BROKER_PGBOUNCER_TCP: 'true' })
    const running = [pgbouncer.pid, pgbouncer.tcpPid].map((pid) => readProcess(pid ?? 0))
    for (const info of running) expect(info?.command).toContain('pgbouncer')
    await broker.close()
    for (const info of running) if (info) expect(isRunning(info)).toBe(false)
    await expect(stat(join(dir, `.s.PGSQL.${socket.port}`))).rejects.toThrow(/ENOENT/)
    await expect(psql(tcp, 'select 1')).rejects.toThrow(/Connection refused/)
  })
})

/** The TCP PgBouncer's files, written only while TCP is on. */
const TCP_FILES = ['pgbouncer-tcp.ini', 'users.txt', 'hba.conf'] as const

/**
 * Ends the Lakebase role's server connections and waits until PgBouncer holds none, so that the
 * next client makes it log in again.
 */
async function dropServerConnections(
  pgbouncer: Pgbouncer,
  admin: postgres.Sql,
  role: string,
): Promise<void> {
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`
  await waitFor(
    async () => {
      const { pools } = await pgbouncer.figures()
      return pools.every((p) => p.serversActive + p.serversIdle + p.serversUsed === 0)
    },
    { what: 'PgBouncer noticing its server connections closed', timeoutMs: SLOW_MS },
  )
}

/** pgbench's tables, made through PgBouncer. */
async function initPgbench({ socket }: Setup): Promise<void> {
  const init = await pgbench(socket, ['-i', '-s', '1', '-q'])
  expect(init.output).toContain('done')
}

/**
 * One pgbench run through {@link ROTATIONS} rotations, each at its share of the run as
 * PgBouncer's own transaction count shows it; with the server connections opened during each.
 */
async function pgbenchThroughRotations({ socket, rotate, pgbouncer }: Setup, connectEach: boolean) {
  const base = await transactions(pgbouncer)
  let finished = false
  const running = pgbench(socket, [
    ...(connectEach ? ['-C'] : []),
    '-c',
    String(PGBENCH_CLIENTS),
    '-j',
    '2',
    '-t',
    String(PGBENCH_TRANSACTIONS),
    '-n',
  ]).finally(() => {
    finished = true
  })
  const opened: number[] = []
  const total = PGBENCH_CLIENTS * PGBENCH_TRANSACTIONS
  for (let round = 1; round <= ROTATIONS; round++) {
    await waitFor(
      async () =>
        finished || (await transactions(pgbouncer)) - base >= (total * round) / (ROTATIONS + 1),
      { what: `pgbench past ${round}/${ROTATIONS + 1} of its run`, timeoutMs: 120_000 },
    )
    const before = pgbouncer.status().serverConnections
    await rotate()
    opened.push(pgbouncer.status().serverConnections - before)
  }
  const result = await running
  return {
    result,
    opened,
    figures: {
      processed: result.processed,
      failed: result.failed,
      abortedClients: result.aborted,
      tps: result.tps,
      latencyMs: result.latencyMs,
      serverConnectionsDuringEachRotation: opened,
      refusedLogins: pgbouncer.status().refusedLogins,
    },
  }
}

/** PgBouncer's transactions so far (SHOW STATS), summed over its databases. */
async function transactions(pgbouncer: Pgbouncer): Promise<number> {
  const figures = await pgbouncer.figures()
  return figures.stats.reduce((sum, s) => sum + s.transactions, 0)
}

/** Broker credentials that point a driver entry at PgBouncer's socket: no password is asked. */
function socketCredentials(socket: LibpqTarget): BrokerCredentials {
  const credential: Credential = {
    target: 'default',
    user: socket.user,
    password: 'not-asked-on-the-socket',
    host: socket.host,
    port: socket.port,
    database: socket.database,
    ssl: 'disable',
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    refreshAt: new Date(Date.now() + 1_800_000).toISOString(),
    stale: false,
    source: 'static',
    version: 'pgbouncer-socket',
  }
  return {
    target: 'default',
    get: async () => credential,
    current: () => credential,
    password: async () => credential.password,
    forget: () => {},
  }
}
