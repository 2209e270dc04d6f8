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
import { lostWrites, type Send, startLoad } from './load.js'
import { recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * Postgres restarts under load: a Postgres of this test's own (the embedded binaries, persistent
 * data, a fixed port) is stopped and started again while clients keep writing through the
 * functions. Every write acknowledged with a 2xx is there afterwards; requests during the outage
 * get 503 DATABASE_UNAVAILABLE with retry_after, fast; and the functions recover by themselves.
 */
const PASSWORD = 'restart-test-superuser-password-41d7'
const CLIENTS = 6
const WARM_MS = 2_000
const DOWN_MS = 3_000
const AFTER_MS = 3_000
/** "Never a hang past a few seconds": the login timeout, plus a margin for a loaded machine. */
const MAX_OUTAGE_ANSWER_MS = 6_000

const secrets = trackSecrets('postgres-restart')
let dir: string
let server: InstanceType<typeof EmbeddedPostgres>
let admin: postgres.Sql
let broker: RunningBroker
let database: FunctionsDatabase
let app: ReturnType<typeof buildFunctionsApp>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lakebase-restart-pg-'))
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

describe('a Postgres restart under load', () => {
  it('loses no acknowledged write and answers the outage with fast 503s', async () => {
    const load = startLoad(send, { clients: CLIENTS })
    await sleep(WARM_MS)
    const stoppedAt = Date.now()
    await server.stop()
    await sleep(DOWN_MS)
    await server.start()
    const backAt = Date.now()
    await sleep(AFTER_MS)
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
