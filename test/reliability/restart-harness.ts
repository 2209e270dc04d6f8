import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import EmbeddedPostgres, {
  letPostgresUserReach,
  postgresBinariesDir,
} from '../../cli/embedded-postgres-module.js'
import type { FunctionsDatabase } from '../../functions/db/database.js'
import { runMigrations } from '../../functions/db/migrate.js'
import type { BrokerCredentials } from '../../shared/client/broker-client.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { functionsProcess } from '../support/functions.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import type { Send } from './load.js'
import type { SecretRegistry } from './secrets.js'

/**
 * What the restart and SIGKILL suites share: the functions as one process runs them, a Postgres
 * of a suite's own to stop or kill, a Lakebase-like Postgres with its secrets tracked, and the
 * pacing of a run's phases.
 */

/**
 * Waits `ms` of real time, on purpose: a phase of a run under load (warming up, an outage, the
 * recovery) or the pace of a probe lasts as long as the test says. Not a way to wait for
 * something to happen: await that instead (`waitFor`, a process's exit, a log line).
 */
export async function pace(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** One functions instance: its broker client, its pool, and requests to its app. */
export interface FunctionsInstance {
  credentials: BrokerCredentials
  database: FunctionsDatabase
  /** A request to the app as the load sends it: the user in X-Forwarded-Email. */
  send: Send
}

/**
 * A functions instance of its own, as one process has it ({@link functionsProcess}), with `send`
 * for the load. Its logs go to the secret search as `<name> logs`; closing its database is the
 * caller's.
 */
export function functionsInstance(options: {
  brokerUrl: string
  secrets: SecretRegistry
  max: number
  name?: string
}): FunctionsInstance {
  const name = options.name ?? 'functions'
  const { credentials, database, app, logs } = functionsProcess({ ...options, name })
  options.secrets.output(`${name} logs`, logs.text)
  const send: Send = async (method, path, { user, body }) =>
    app.request(path, {
      method,
      headers: { 'x-forwarded-email': user, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  return { credentials, database, send }
}

/**
 * The strict Lakebase-like Postgres (every minted token becomes the role's only password), with
 * the workspace PAT, every minted token and the broker client token in the secret search.
 */
export async function trackedLakebaseLike(
  secrets: SecretRegistry,
  lifetimeS: number,
): Promise<LakebaseLike> {
  const lakebase = await lakebaseLike({ lifetimeS })
  secrets.secret('the workspace PAT', lakebase.workspace.pat)
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  secrets.secretsFrom('a minted token', () => lakebase.workspace.minted)
  return lakebase
}

/**
 * How long the functions may take to answer while their Postgres is down or restarting: "never a
 * hang past a few seconds", the login timeout plus a margin for a loaded machine.
 */
export const MAX_OUTAGE_ANSWER_MS = 6_000

/** A Postgres of a suite's own, with a broker and the functions on it. */
export interface OwnPostgresStack {
  /** The embedded server, on a fixed port: its data persists across `stop()` and `start()`. */
  server: InstanceType<typeof EmbeddedPostgres>
  /** The superuser, on one connection: what was written is checked with it. */
  admin: postgres.Sql
  /** A request to the functions (the broker's static provider logs them in as the superuser). */
  send: Send
  close(): Promise<void>
}

/**
 * A Postgres of the suite's own to stop or kill (the suite's shared server must stay up): the
 * embedded binaries, persistent data, a fixed port, migrated. A broker with the static provider
 * logs the functions in as its superuser, whose password, made up here, goes to the secret
 * search with the broker's logs. Whatever was started is stopped again if a step fails.
 */
export async function startOwnPostgresStack(options: {
  /** Names the data folder and the password, e.g. `sigkill`. */
  name: string
  secrets: SecretRegistry
}): Promise<OwnPostgresStack> {
  const { name, secrets } = options
  const password = `${name}-test-superuser-password-${randomBytes(4).toString('hex')}`
  secrets.secret('the Postgres password', password)
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  const cleanup: Array<() => Promise<unknown>> = []
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  }
  try {
    const dir = await mkdtemp(join(tmpdir(), `lakebase-${name}-pg-`))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    await chmod(dir, 0o755)
    await letPostgresUserReach(dir, await postgresBinariesDir())
    const port = await freePort()
    const server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: true,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => {},
      onError: () => {},
    })
    await server.initialise()
    await server.start()
    cleanup.push(() => server.stop())
    const login = { host: '127.0.0.1', port, user: 'postgres', password }
    const admin = postgres({ ...login, database: 'postgres', max: 1, onnotice: () => {} })
    cleanup.push(() => admin.end({ timeout: 1 }))
    await runMigrations(admin)

    const started = await startTestBroker({
      LAKEBASE_PROVIDER: 'static',
      PGHOST: login.host,
      PGPORT: String(port),
      PGUSER: login.user,
      PGPASSWORD: password,
      PGDATABASE: 'postgres',
      PGSSLMODE: 'disable',
    })
    cleanup.push(() => started.broker.close())
    secrets.output('broker logs', started.logs.text)
    const functions = functionsInstance({ brokerUrl: started.url, secrets, max: 5 })
    cleanup.push(() => functions.database.close())
    return { server, admin, send: functions.send, close }
  } catch (err) {
    await close()
    throw err
  }
}
