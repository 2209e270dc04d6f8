import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { TEST_CLIENT_TOKEN } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import type { LakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { type Spawned, spawnNode } from '../support/process.js'
import { waitFor } from '../support/wait-for.js'
import { isUnsureWrite, lostWrites, startLoad } from './load.js'
import { countFromEnv, recordFigures } from './recorder.js'
import { functionsInstance, pace, trackedLakebaseLike } from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * The broker, as its own process, is killed with SIGKILL under load: no drain, no goodbye. The
 * functions (in this process, against the strict Lakebase-like Postgres) keep answering from their
 * connections and their last good credential; their backends are killed while it is away, so they
 * must log in from what they hold. A new broker process comes back on the same port and mints a
 * new token, which becomes the role's only password: their backends are killed again, the next
 * logins are refused, the refusal is reported, and the functions move to the new token. No request
 * fails for want of a credential, and no acknowledged write is lost.
 */
const KILLS = countFromEnv('RELIABILITY_BROKER_SIGKILLS', 3, 2)
const CLIENTS = 4
/** The run's phases, paced in real time: load before the first kill, and after each restart. */
const WARM_MS = 1_000
const AFTER_MS = 1_500
/** Down this long before a new broker is started: clients must ride it out on what they hold. */
const DOWN_MS = 1_500
/**
 * How long the functions get to log in again after their backends were killed before they are
 * killed again: under load a login follows within milliseconds, but a connection opened just as
 * the kill ran may serve on and spare the pool the login.
 */
const LOGIN_AFTER_KILL_MS = 1_000
/** How long a phase may kill before the test fails: the login it waits for is not coming. */
const PHASE_TIMEOUT_MS = 10_000
/**
 * How often pg_stat_activity is read while waiting for that login, and the pause before killing
 * again when the pool had no backend at that moment.
 */
const LOOK_EVERY_MS = 20

const secrets = trackSecrets('broker-sigkill')
let lakebase: LakebaseLike
let port: number
let url: string
const processes: Spawned[] = []
const closers: Array<() => Promise<unknown>> = []

/**
 * The broker command as its own process: Node with tsx's loader in that process, so SIGKILL
 * reaches the broker itself (the `tsx` launcher would run it in a child of its own).
 */
async function startBrokerProcess(): Promise<{ spawned: Spawned; readyAfterMs: number }> {
  const started = performance.now()
  const spawned = spawnNode('--import', ['tsx', 'broker/main.ts'], {
    ...lakebase.brokerEnv,
    BROKER_PORT: String(port),
    BROKER_TOKEN: TEST_CLIENT_TOKEN,
    BROKER_MIN_TTL_S: '2',
    LOG_LEVEL: 'info',
  })
  processes.push(spawned)
  secrets.output(`broker process ${processes.length} output`, spawned.output)
  await spawned.waitFor('broker listening', 30_000)
  await waitFor(
    async () => {
      const ready = await fetch(`${url}/readyz`).catch(() => undefined)
      return ready?.status === 200
    },
    { what: 'the broker process is ready', timeoutMs: 30_000 },
  )
  return { spawned, readyAfterMs: Math.round(performance.now() - started) }
}

/** A kill of the functions' backends: Postgres's time before it, and the pids it terminated. */
interface Kill {
  at: string
  pids: number[]
}

/**
 * What kills the functions' backends: every backend of `role` at once, whatever it is doing, so
 * that each needs a new login. A statement in
 * flight on one is cut: a read is retried, a write that may have committed is answered 503
 * (a dropped connection, counted apart), never a credential failure.
 */
function backendKiller(admin: postgres.Sql, role: string) {
  const kill = async (): Promise<Kill> => {
    const [killed] = await admin<Kill[]>`
      select statement_timestamp()::text as at,
        coalesce(array_agg(pid) filter (where pg_terminate_backend(pid)), '{}') as pids
      from pg_stat_activity where usename = ${role}`
    if (!killed) throw new Error('no answer from pg_stat_activity')
    return killed
  }
  /** Whether a backend of the role has logged in since `killed` (the role shows once it has). */
  const loggedInSince = async (killed: Kill) => {
    const [row] = await admin<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where usename = ${role} and backend_start > ${killed.at}::timestamptz
        and not (pid = any(${killed.pids}::int[]))`
    return (row?.n ?? 0) > 0
  }
  return {
    loggedInSince,
    /**
     * Kills until, after a kill that terminated a backend, `done` holds: the login it forced
     * happened. Returns the backends terminated; a kill that found none (the pool between
     * connections) is tried again. Fails the test after {@link PHASE_TIMEOUT_MS}.
     */
    async until(what: string, done: (killed: Kill) => Promise<boolean>): Promise<number> {
      const deadline = performance.now() + PHASE_TIMEOUT_MS
      let landed = 0
      for (;;) {
        const killed = await kill()
        landed += killed.pids.length
        if (killed.pids.length === 0) await pace(LOOK_EVERY_MS)
        else {
          const happened = await waitFor(() => done(killed), {
            what,
            timeoutMs: LOGIN_AFTER_KILL_MS,
            everyMs: LOOK_EVERY_MS,
          }).catch(() => false)
          if (happened) return landed
        }
        if (performance.now() > deadline) {
          throw new Error(
            `after ${PHASE_TIMEOUT_MS} ms of kills (${landed} backends), still not: ${what}`,
          )
        }
      }
    },
  }
}

beforeAll(async () => {
  lakebase = await trackedLakebaseLike(secrets, 3600)
  port = await freePort()
  url = `http://127.0.0.1:${port}`
  await startBrokerProcess()
  await migrateViaBroker(connectBroker({ url, token: TEST_CLIENT_TOKEN }))
}, 90_000)

afterAll(async () => {
  for (const close of closers.splice(0)) await close()
  for (const p of processes) await p.kill('SIGKILL')
  await lakebase?.close()
})

describe('the broker killed with SIGKILL under load', () => {
  it('loses no acknowledged write and no request for want of a credential; a new process takes over', async () => {
    const { credentials, database, send } = functionsInstance({ brokerUrl: url, secrets, max: 4 })
    closers.push(() => database.close())
    const admin = adminSql()
    closers.push(() => admin.end())
    const load = startLoad(send, { clients: CLIENTS })
    // Stopped before the pool closes, should a phase below fail.
    closers.unshift(() => load.stop())
    const killer = backendKiller(admin, lakebase.role)
    let backendKills = 0
    await pace(WARM_MS)

    const restarts: Array<{
      exitSignal: string | null
      recoveredAfterMs: number
      readyAfterMs: number
      killsWhileDown: number
      killsAfterBack: number
      movedAfterMs: number
    }> = []
    for (let i = 0; i < KILLS; i++) {
      const victim = processes.at(-1)
      if (!victim) throw new Error('no broker process')
      const killedAt = performance.now()
      await victim.kill('SIGKILL')
      // A login while the broker is gone: from the credential the functions hold.
      const killsWhileDown = await killer.until('a backend logs in while the broker is gone', (k) =>
        killer.loggedInSince(k),
      )
      await pace(killedAt + DOWN_MS - performance.now())
      const { readyAfterMs } = await startBrokerProcess()
      const backAt = performance.now()
      // A login after it is back (ready: it has minted a new token), so the held one is refused;
      // until the functions hold the new token, or the next round's logins would use a refused one.
      const newest = () => lakebase.workspace.credentials.at(-1)?.token
      const killsAfterBack = await killer.until(
        'the functions log in with the new broker token',
        async (k) =>
          credentials.current()?.password === newest() && (await killer.loggedInSince(k)),
      )
      backendKills += killsWhileDown + killsAfterBack
      restarts.push({
        exitSignal: victim.child.signalCode,
        recoveredAfterMs: Math.round(backAt - killedAt),
        readyAfterMs,
        killsWhileDown,
        killsAfterBack,
        movedAfterMs: Math.round(performance.now() - backAt),
      })
      await pace(AFTER_MS)
    }
    const report = await load.stop()

    const failed = report.answers.filter((a) => a.status >= 300)
    for (const answer of failed) secrets.output(`${answer.status} body`, answer.body ?? '')
    const droppedConnection = failed.filter((a) =>
      /"error_type":"ConnectionFailed"/.test(a.body ?? ''),
    )
    const credentialFailures = failed.filter((a) => !droppedConnection.includes(a))
    const { acknowledged, lost } = await lostWrites(lakebase.db.sql, report)
    recordFigures('broker-sigkill', {
      kills: KILLS,
      survived: restarts.length === KILLS && credentialFailures.length === 0 && lost.length === 0,
      restarts,
      requests: report.answers.length,
      failed: failed.length,
      credentialFailures: credentialFailures.length,
      backendKills,
      droppedConnectionFailures: droppedConnection.length,
      unsureWrites: droppedConnection.filter(isUnsureWrite).length,
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
    })

    expect(restarts.map((r) => r.exitSignal)).toEqual(Array(KILLS).fill('SIGKILL'))
    // Every round forced both logins (one while the broker was gone, one once it was back):
    // `until` fails the round otherwise, so it is not asserted again here.
    expect(credentialFailures.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual(
      [],
    )
    // At most one request per backend killed: the statement it was running.
    expect(droppedConnection.length).toBeLessThanOrEqual(backendKills)
    expect(lost).toEqual([])
    expect(acknowledged).toBeGreaterThan(50)
    // Each new process minted a token. The client keeps the one it holds until the broker's
    // refresh point (an older broker's, while it is valid), and moves on when Postgres refuses it.
    expect(lakebase.workspace.credentials.length).toBeGreaterThanOrEqual(KILLS + 1)
    const minted = lakebase.workspace.credentials.map((c) => c.token)
    expect(minted).toContain((await credentials.get()).password)
  }, 180_000)
})
