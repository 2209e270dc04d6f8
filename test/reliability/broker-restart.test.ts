import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { BROKER_TIMEOUT_MS, connectBroker } from '../../shared/client/broker-client.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { errorCodeOf } from '../support/error-body.js'
import { freePort } from '../support/free-port.js'
import type { LakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { waitFor } from '../support/wait-for.js'
import { isUnsureWrite, lostWrites, startLoad } from './load.js'
import { recordFigures } from './recorder.js'
import { functionsInstance, pace, trackedLakebaseLike } from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * The broker restarts under load, in real time, against a Lakebase-like Postgres whose every
 * 20-second token becomes the role's only password. The broker is closed across its credential's
 * refresh point, a backend is killed each second meanwhile (so the functions must log in
 * again while it is gone), and it comes back on the same port with a new token. The functions
 * keep answering from live connections and their last good credential; a cold instance started
 * during the outage is answered fast, and served once the broker is back.
 */
const LIFETIME_S = 20
const CLIENTS = 4
/** Closed this long after the token in use was minted: before its refresh point (~10 s). */
const DOWN_AFTER_MS = 4_000
/**
 * Back this long after it was minted: past its refresh point, and 3 s before the functions stop
 * using it (5 s before it expires, CLIENT_MIN_TTL_MS).
 */
const BACK_AFTER_MS = 12_000
/** The load runs this long, in real time, once the broker is back. */
const AFTER_MS = 4_000
const KILL_EVERY_MS = 1_000
/** The pace of the cold instance's probes while the broker is away: a sample, not a load. */
const COLD_PROBE_EVERY_MS = 250
/** The pace of its probes once the broker is back, until one is served. */
const COLD_RETRY_EVERY_MS = 100

const secrets = trackSecrets('broker-restart')
let lakebase: LakebaseLike
let env: Record<string, string>
let url: string
const brokers: RunningBroker[] = []
const closers: Array<() => Promise<unknown>> = []

async function startBrokerOnPort(): Promise<RunningBroker> {
  const started = await startTestBroker(env)
  secrets.output(`broker ${brokers.length + 1} logs`, started.logs.text)
  brokers.push(started.broker)
  return started.broker
}

/** A functions instance of its own on the broker's port, closed after the test. */
function functions(name: string) {
  const instance = functionsInstance({ brokerUrl: url, secrets, name, max: 4 })
  closers.push(() => instance.database.close())
  return instance
}

beforeAll(async () => {
  lakebase = await trackedLakebaseLike(secrets, LIFETIME_S)
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  env = { ...lakebase.brokerEnv, BROKER_PORT: String(port), BROKER_MIN_TTL_S: '2' }
  await startBrokerOnPort()
  await migrateViaBroker(connectBroker({ url, token: TEST_CLIENT_TOKEN }))
}, 60_000)

afterAll(async () => {
  for (const close of closers.splice(0)) await close()
  for (const broker of brokers) await broker.close()
  await lakebase?.close()
})

describe('a broker restart under load', () => {
  it('keeps the functions answering, and serves a cold instance once it is back', async () => {
    // The timeline follows the token the broker holds, so a slow start cannot shift it: wait for
    // one young enough, then count from its minting.
    const cache = brokers[0]?.caches.get('default')
    const expiresAt = () => cache?.status().expiresAt ?? 0
    await waitFor(() => expiresAt() - Date.now() >= (LIFETIME_S * 1000 - DOWN_AFTER_MS) * 0.9, {
      what: 'the broker holds a token young enough for the timeline',
      timeoutMs: LIFETIME_S * 1000,
      everyMs: 50,
    })
    const mintedAt = expiresAt() - LIFETIME_S * 1000
    const warm = functions('functions')
    const load = startLoad(warm.send, { clients: CLIENTS })
    const admin = adminSql()
    closers.push(() => admin.end())

    await pace(mintedAt + DOWN_AFTER_MS - Date.now())
    await brokers[0]?.close()
    const downAt = Date.now()
    const loginsAtDown = warm.database.stats().logins
    let kills = 0
    const killer = setInterval(() => {
      kills += 1
      // One backend at a time, oldest first, as connections are recycled: each needs a new login.
      // A postgres.js query runs only once awaited or then'd: `.catch` sends it.
      void admin`
        select pg_terminate_backend(pid) from (
          select pid from pg_stat_activity where usename = ${lakebase.role}
          order by backend_start limit 1
        ) as oldest`.catch(() => {})
    }, KILL_EVERY_MS)

    // A functions instance that starts while the broker is away, once a backend has been killed
    // meanwhile (the warm one logs in again on what it holds): answered, and fast.
    await waitFor(() => kills > 0, {
      what: 'a backend is killed while the broker is away',
      timeoutMs: KILL_EVERY_MS * 5,
    })
    const cold = functions('cold functions')
    const coldDuring: Array<{ status: number; ms: number; code?: string }> = []
    const probeCold = async () => {
      const started = performance.now()
      const response = await cold.send('GET', '/api/preferences', { user: 'cold@example.com' })
      const text = await response.text()
      if (response.status >= 300) secrets.output('cold answer', text)
      const code = response.status >= 300 ? errorCodeOf(text) : undefined
      return { status: response.status, ms: performance.now() - started, code }
    }
    while (Date.now() < mintedAt + BACK_AFTER_MS - 1_000) {
      coldDuring.push(await probeCold())
      await pace(COLD_PROBE_EVERY_MS)
    }

    await pace(mintedAt + BACK_AFTER_MS - Date.now())
    const loginsWhileDown = warm.database.stats().logins - loginsAtDown
    await startBrokerOnPort()
    const backAt = Date.now()
    const coldServedAfterMs = await waitFor(
      async () => ((await probeCold()).status === 200 ? Date.now() - backAt : undefined),
      { what: 'the cold instance is served', timeoutMs: AFTER_MS, everyMs: COLD_RETRY_EVERY_MS },
    ).catch(() => undefined)
    await pace(backAt + AFTER_MS - Date.now())
    clearInterval(killer)
    const report = await load.stop()

    // Writes whose connection was killed after they were sent answer 503 (isUnsureWrite), at most
    // one per client per kill; anything else that is not a 2xx is a failure.
    const unsureWrites = report.answers.filter(isUnsureWrite)
    const failed = report.answers.filter((a) => a.status >= 300 && !isUnsureWrite(a))
    for (const answer of failed) secrets.output(`${answer.status} body`, answer.body ?? '')
    const whileDown = report.answers.filter((a) => a.at >= downAt && a.at < backAt)
    const { acknowledged, lost } = await lostWrites(lakebase.db.sql, report)
    const latest = lakebase.workspace.credentials.at(-1)?.token
    recordFigures('broker-restart', {
      requests: report.answers.length,
      failed: failed.length,
      unsureWrites: unsureWrites.length,
      answeredWhileDown: whileDown.filter((a) => a.status < 300).length,
      loginsWhileDown,
      kills,
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
      coldProbesWhileDown: coldDuring.length,
      coldSlowestMs: Math.round(Math.max(...coldDuring.map((c) => c.ms))),
      coldCodes: [...new Set(coldDuring.map((c) => c.code))],
      coldServedAfterMs: coldServedAfterMs ?? null,
      survived:
        failed.length === 0 &&
        lost.length === 0 &&
        loginsWhileDown > 0 &&
        coldServedAfterMs !== undefined &&
        coldDuring.every((c) => c.ms < BROKER_TIMEOUT_MS),
    })

    // The warm functions: not one request failed, though they logged in again while it was gone.
    expect(failed.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual([])
    expect(unsureWrites.length).toBeLessThanOrEqual(Math.max(1, kills) * CLIENTS)
    expect(whileDown.length).toBeGreaterThan(50)
    expect(loginsWhileDown).toBeGreaterThan(0)
    expect(lost).toEqual([])
    expect(acknowledged).toBeGreaterThan(100)
    // The restarted broker minted a new token; the functions moved to it.
    expect(lakebase.workspace.credentials.length).toBeGreaterThanOrEqual(2)
    expect(warm.credentials.current()?.password).toBe(latest)
    // The cold instance: every answer while the broker was away came fast, with an error code;
    // once it was back, it was served within a second or two.
    expect(coldDuring.length).toBeGreaterThan(0)
    for (const probe of coldDuring) {
      expect(probe.status).toBe(503)
      expect(probe.code).toMatch(/^(CREDENTIAL_UNAVAILABLE|LAKEBASE_NOT_CONFIGURED)$/)
      expect(probe.ms).toBeLessThan(BROKER_TIMEOUT_MS)
    }
    expect(coldServedAfterMs).toBeDefined()
    expect(coldServedAfterMs).toBeLessThan(2_000)
  }, 60_000)
})
