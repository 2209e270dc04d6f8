import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { TEST_CLIENT_TOKEN } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import type { LakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { type Spawned, spawnNode } from '../support/process.js'
import { waitFor } from '../support/wait-for.js'
import { lostWrites, startLoad } from './load.js'
import { countFromEnv, recordFigures } from './recorder.js'
import { functionsInstance, pace, trackedLakebaseLike } from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * The broker, as its own process, is killed with SIGKILL under load: no drain, no goodbye. The
 * functions (in this process, against the strict Lakebase-like Postgres) keep answering from their
 * connections and their last good credential; an idle backend is killed while it is away, so they
 * must log in from what they hold. A new broker process comes back on the same port and
 * mints a new token, which becomes the role's only password: the next logins are refused, the
 * refusal is reported, and the functions move to the new token. No request fails for want of a
 * credential, and no acknowledged write is lost.
 */
const KILLS = countFromEnv('RELIABILITY_BROKER_SIGKILLS', 3, 2)
const CLIENTS = 4
/** The run's phases, paced in real time: load before the first kill, and after each restart. */
const WARM_MS = 1_000
const AFTER_MS = 1_500
/** Down this long before a new broker is started: clients must ride it out on what they hold. */
const DOWN_MS = 1_500

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
    // Only idle backends: the point is the login that follows, not a query cut mid-flight. A
    // query can still race the kill; that failure is the database layer's retry rule (a dropped
    // connection), counted apart, never a credential failure.
    let backendKills = 0
    const killIdleBackend = async () => {
      backendKills += 1
      await admin`
        select pg_terminate_backend(pid) from (
          select pid from pg_stat_activity
          where usename = ${lakebase.role} and state = 'idle'
            and state_change < now() - interval '20 milliseconds'
          order by backend_start limit 1
        ) as oldest`
    }
    await pace(WARM_MS)

    const restarts: Array<{
      exitSignal: string | null
      recoveredAfterMs: number
      readyAfterMs: number
    }> = []
    for (let i = 0; i < KILLS; i++) {
      const victim = processes.at(-1)
      if (!victim) throw new Error('no broker process')
      const killedAt = performance.now()
      await victim.kill('SIGKILL')
      // A login while the broker is gone: from the credential the functions hold.
      await killIdleBackend()
      await pace(DOWN_MS)
      const { readyAfterMs } = await startBrokerProcess()
      // A login after it is back (ready: it has minted a new token), so the held one is refused.
      await killIdleBackend()
      restarts.push({
        exitSignal: victim.child.signalCode,
        recoveredAfterMs: Math.round(performance.now() - killedAt),
        readyAfterMs,
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
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
    })

    expect(restarts.map((r) => r.exitSignal)).toEqual(Array(KILLS).fill('SIGKILL'))
    expect(credentialFailures.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual(
      [],
    )
    // At most the requests whose query raced a backend kill.
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
