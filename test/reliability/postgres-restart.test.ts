import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_RETRY_AFTER_S } from '../../shared/client/sqlstate.js'
import { lostWrites, startLoad } from './load.js'
import { recordFigures } from './recorder.js'
import {
  MAX_OUTAGE_ANSWER_MS,
  type OwnPostgresStack,
  pace,
  startOwnPostgresStack,
} from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * Postgres restarts under load: a Postgres of this test's own (the embedded binaries, persistent
 * data, a fixed port) is stopped and started again while clients keep writing through the
 * functions. Every write acknowledged with a 2xx is there afterwards; requests during the outage
 * get 503 DATABASE_UNAVAILABLE with retry_after, fast; and the functions recover by themselves.
 */
const CLIENTS = 6
/** The run's phases, paced in real time: load before, Postgres down, load after it is back. */
const WARM_MS = 2_000
const DOWN_MS = 3_000
const AFTER_MS = 3_000

const secrets = trackSecrets('postgres-restart')
let stack: OwnPostgresStack

beforeAll(async () => {
  stack = await startOwnPostgresStack({ name: 'restart', secrets })
}, 120_000)

afterAll(async () => {
  await stack?.close()
})

describe('a Postgres restart under load', () => {
  it('loses no acknowledged write and answers the outage with fast 503s', async () => {
    const { server, admin, send } = stack
    const load = startLoad(send, { clients: CLIENTS })
    await pace(WARM_MS)
    const stoppedAt = Date.now()
    await server.stop()
    await pace(DOWN_MS)
    await server.start()
    const backAt = Date.now()
    await pace(AFTER_MS)
    const report = await load.stop()

    const during = report.answers.filter((a) => a.at >= stoppedAt && a.at < backAt)
    const unavailable = during.filter((a) => a.status === 503)
    const wrong = report.answers.filter((a) => a.status >= 300 && a.status !== 503)
    for (const answer of report.answers.filter((a) => a.status >= 300)) {
      secrets.output(`${answer.status} body`, answer.body ?? '')
    }
    const { acknowledged, lost } = await lostWrites(admin, report)
    const recoveredAt = report.answers.find((a) => a.at >= backAt && a.status < 300)?.at
    const maxLatencyMs = Math.max(...report.answers.map((a) => a.latencyMs))
    recordFigures('postgres-restart', {
      requests: report.answers.length,
      outageRequests: during.length,
      outage503: unavailable.length,
      otherFailures: wrong.length,
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
      maxLatencyMs: Math.round(maxLatencyMs),
      recoveredAfterMs: recoveredAt === undefined ? null : recoveredAt - backAt,
      survived:
        lost.length === 0 &&
        wrong.length === 0 &&
        unavailable.length > 0 &&
        maxLatencyMs < MAX_OUTAGE_ANSWER_MS &&
        recoveredAt !== undefined,
    })

    expect(lost).toEqual([])
    expect(acknowledged).toBeGreaterThan(100)
    // The outage was seen, and answered as the contract says.
    expect(unavailable.length).toBeGreaterThan(0)
    expect(wrong.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual([])
    for (const answer of unavailable) {
      const detail = (JSON.parse(answer.body ?? '{}') as { detail: Record<string, unknown> }).detail
      expect(detail).toMatchObject({
        error_code: 'DATABASE_UNAVAILABLE',
        retry_after: DATABASE_RETRY_AFTER_S,
      })
      expect(answer.retryAfter).toBe(String(DATABASE_RETRY_AFTER_S))
    }
    expect(maxLatencyMs).toBeLessThan(MAX_OUTAGE_ANSWER_MS)
    // Recovered by itself, within the time the 503s asked clients to wait.
    expect(recoveredAt).toBeDefined()
    expect((recoveredAt ?? Number.POSITIVE_INFINITY) - backAt).toBeLessThan(
      DATABASE_RETRY_AFTER_S * 1000,
    )
    const health = await send('GET', '/api/health/database', { user: 'x@example.com' })
    expect(health.status).toBe(200)
  }, 120_000)
})
