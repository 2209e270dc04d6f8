import { rm } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { staticBrokerEnv, tempDir } from '../../support/broker.js'
import { freePort } from '../../support/free-port.js'
import { psql } from '../../support/libpq-tools.js'
import { pgbouncerMissing } from '../../support/pgbouncer.js'
import { createTestDatabase } from '../../support/postgres.js'
import { type Spawned, spawnTs } from '../../support/process.js'
import { type ProcessInfo, readProcess, waitUntilGone } from '../../support/process-tree.js'
import { describeRequiring } from '../../support/requirement.js'

const TOKEN = 'pgbouncer-process-test-token-7d1e'
/** The watchdog looks once a second; a few seconds is what "never left behind" may take. */
const WATCHDOG_MS = 5_000

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step()
})

/** `lakebase-broker broker` as a process of its own, on a static login to a fresh database. */
async function broker(env: Record<string, string>, args: string[] = []) {
  const db = await createTestDatabase('pgb')
  cleanups.push(() => db.drop())
  const tmp = await tempDir('pgbouncer-process-')
  cleanups.push(() => rm(tmp, { recursive: true, force: true }))
  const port = await freePort()
  const dir = join(tmp, 'pgbouncer')
  const child = spawnTs('cli/main.ts', ['broker', ...args], {
    ...staticBrokerEnv(db),
    BROKER_PORT: String(await freePort()),
    BROKER_TOKEN: TOKEN,
    BROKER_DRAIN_S: '0',
    BROKER_PGBOUNCER_DIR: dir,
    BROKER_PGBOUNCER_PORT: String(port),
    ...env,
  })
  cleanups.push(() => child.kill('SIGKILL'))
  return { child, socket: { host: dir, port, database: db.database, user: 'postgres' } }
}

/** The PgBouncer a broker started, from its `pgbouncer listening` line. */
async function pgbouncerOf(child: Spawned): Promise<ProcessInfo> {
  const [, pid] = await child.waitFor(/"pgbouncerPid":(\d+)[^\n]*pgbouncer listening/)
  return running(pid)
}

/** Both PgBouncers a broker started with TCP on: the socket's and the TCP one. */
async function pgbouncersOf(child: Spawned): Promise<ProcessInfo[]> {
  const [, socket, tcp] = await child.waitFor(
    /"pgbouncerPid":(\d+),"tcpPgbouncerPid":(\d+)[^\n]*pgbouncer listening/,
  )
  return [running(socket), running(tcp)]
}

function running(pid: string | undefined): ProcessInfo {
  const info = readProcess(Number(pid))
  if (!info) throw new Error(`PgBouncer ${pid} is gone already`)
  return info
}

describeRequiring(pgbouncerMissing, 'lakebase-broker broker with PgBouncer (the process)', () => {
  it('exits 2 naming the package to install when PgBouncer is missing', async () => {
    const { child } = await broker({
      BROKER_PGBOUNCER: 'true',
      BROKER_PGBOUNCER_PATH: '/nonexistent/pgbouncer',
    })
    expect(await child.exited).toBe(2)
    expect(child.output()).toContain('BROKER_PGBOUNCER=true needs PgBouncer')
    expect(child.output()).toContain('install the package pgbouncer (`apt-get install pgbouncer`')
  })

  it('does not start when PgBouncer cannot listen, and says why', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)))
    const { port } = taken.address() as AddressInfo
    const { child } = await broker({
      BROKER_PGBOUNCER: 'true',
      BROKER_PGBOUNCER_TCP: 'true',
      BROKER_PGBOUNCER_PORT: String(port),
    })
    expect(await child.exited).toBe(1)
    expect(child.output()).toMatch(
      /broker: PgBouncer cannot listen on 127\.0\.0\.1:\d+: bind\(\): Address already in use/,
    )
  })

  it('stops PgBouncer with itself on SIGTERM (--pgbouncer spells BROKER_PGBOUNCER=true)', async () => {
    const { child, socket } = await broker({}, ['--pgbouncer'])
    const pgbouncer = await pgbouncerOf(child)
    await child.waitFor('credential refreshed')
    expect(await psql(socket, 'select current_user')).toEqual(['postgres'])
    child.child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    // Stopped by the broker before it exited, not by a sweep.
    await waitUntilGone([pgbouncer], 0)
    expect(child.output()).not.toContain('test-superuser-password')
  })

  it('leaves no PgBouncer behind when the broker is killed with SIGKILL, TCP on: neither of the two', async () => {
    const { child } = await broker({ BROKER_PGBOUNCER: 'true', BROKER_PGBOUNCER_TCP: 'true' })
    const pgbouncers = await pgbouncersOf(child)
    expect(new Set(pgbouncers.map((p) => p.pid)).size).toBe(2)
    // The broker alone: a SIGKILL runs no handler, so only the watchdogs can stop PgBouncer.
    process.kill(child.pid, 'SIGKILL')
    await child.exited
    await waitUntilGone(pgbouncers, WATCHDOG_MS)
  })
})
