import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import type { LakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { waitFor } from '../support/wait-for.js'
import { isUnsureWrite, lostWrites, startLoad } from './load.js'
import { countFromEnv, recordFigures } from './recorder.js'
import {
  type FunctionsInstance,
  functionsInstance,
  pace,
  trackedLakebaseLike,
} from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * A second minter invalidates the broker's credential in the middle of a load run: on the strict
 * Lakebase-like Postgres every minted token becomes the role's only password, so when another
 * process (doctor, a broker on another host) mints one, the broker's stops working at login. The
 * role's backends are then killed, so every connection must log in again. The functions' logins
 * are refused (28P01), the client reports the refused version, the broker mints a new token, and
 * not one request fails.
 */
const LIFETIME_S = 3600
const CLIENTS = 4
const INVALIDATIONS = countFromEnv('RELIABILITY_INVALIDATIONS', 5, 3)
/** Shorter than the default window, so the run's invalidations are each healed by a mint. */
const FORCED_REFRESH_MIN_S = 1
/**
 * The load runs this long, in real time, between invalidations: past the forced-refresh window,
 * so that the next one is healed by a mint of its own.
 */
const BETWEEN_MS = (FORCED_REFRESH_MIN_S + 1) * 1000
/** The load runs this long before the first invalidation. */
const WARM_MS = 1_000

const secrets = trackSecrets('forced-refresh')
let lakebase: LakebaseLike
let broker: RunningBroker
let functions: FunctionsInstance
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  lakebase = await trackedLakebaseLike(secrets, LIFETIME_S)
  const started = await startTestBroker({
    ...lakebase.brokerEnv,
    BROKER_FORCED_REFRESH_MIN_S: String(FORCED_REFRESH_MIN_S),
  })
  broker = started.broker
  secrets.output('broker logs', started.logs.text)
  await migrateViaBroker(connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }))
  functions = functionsInstance({ brokerUrl: broker.url, secrets, max: 4 })
}, 60_000)

afterAll(async () => {
  for (const close of closers.splice(0)) await close()
  await functions?.database.close()
  if (broker) secrets.output('metrics', await broker.metrics.registry.metrics())
  await broker?.close()
  await lakebase?.close()
})

describe('a credential invalidated by a second minter under load', () => {
  it('is reported, replaced by one forced refresh each time, and no request fails', async () => {
    const cache = broker.caches.get('default')
    if (!cache) throw new Error('no default target')
    const admin = adminSql()
    closers.push(() => admin.end())
    const load = startLoad(functions.send, { clients: CLIENTS })
    await pace(WARM_MS)

    const healed: Array<{ healedAfterMs: number }> = []
    for (let i = 0; i < INVALIDATIONS; i++) {
      const forcedBefore = cache.status().forcedRefreshes
      const answersBefore = load.answers.length
      // The second minter: its token is now the role's only password.
      await lakebase.workspace.mint()
      const invalidatedAt = Date.now()
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${lakebase.role}`
      await waitFor(() => cache.status().forcedRefreshes > forcedBefore, {
        what: `invalidation ${i + 1} was reported and refreshed`,
        timeoutMs: 10_000,
      })
      // Healed: requests are answered again after the forced refresh.
      await waitFor(() => load.answers.length > answersBefore + CLIENTS * 3, {
        what: 'requests are answered',
      })
      healed.push({ healedAfterMs: Date.now() - invalidatedAt })
      await pace(BETWEEN_MS)
    }
    const report = await load.stop()

    // Writes whose connection was killed after they were sent answer 503 (isUnsureWrite), at most
    // one per client per kill; anything else that is not a 2xx is a failure.
    const unsureWrites = report.answers.filter(isUnsureWrite)
    const failed = report.answers.filter((a) => a.status >= 300 && !isUnsureWrite(a))
    for (const answer of failed) secrets.output(`${answer.status} body`, answer.body ?? '')
    const { acknowledged, lost } = await lostWrites(lakebase.db.sql, report)
    const forced = cache.status().forcedRefreshes
    recordFigures('forced-refresh', {
      invalidations: INVALIDATIONS,
      healed: healed.length,
      forcedRefreshes: forced,
      requests: report.answers.length,
      failed: failed.length,
      unsureWrites: unsureWrites.length,
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
      slowestHealMs: Math.max(...healed.map((h) => h.healedAfterMs)),
    })

    expect(failed.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual([])
    expect(unsureWrites.length).toBeLessThanOrEqual(INVALIDATIONS * CLIENTS)
    expect(healed).toHaveLength(INVALIDATIONS)
    // One mint per invalidation, however many connections were refused at once.
    expect(forced).toBe(INVALIDATIONS)
    expect(lost).toEqual([])
    expect(acknowledged).toBeGreaterThan(50)
    // The broker holds the token it minted last, and it is the one Postgres accepts.
    expect(lakebase.workspace.credentials.at(-1)?.token).toBe(
      (await connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }).get()).password,
    )
  }, 90_000)

  it('heals npm run migrate too: its refused login is reported and retried once', async () => {
    const cache = broker.caches.get('default')
    if (!cache) throw new Error('no default target')
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    const held = await credentials.get()
    const forcedBefore = cache.status().forcedRefreshes
    await lakebase.workspace.mint()
    const summary = await migrateViaBroker(credentials)
    expect(summary.user).toBe(lakebase.role)
    expect(cache.status().forcedRefreshes).toBe(forcedBefore + 1)
    expect((await credentials.get()).version).not.toBe(held.version)
  }, 30_000)
})
