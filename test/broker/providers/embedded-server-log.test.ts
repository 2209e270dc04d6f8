import { chmod, rm } from 'node:fs/promises'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedProvider } from '../../../broker/providers/embedded.js'
import { EMBEDDED_DATABASE } from '../../../cli/embedded-postgres.js'
import EmbeddedPostgres, {
  letPostgresUserReach,
  postgresBinariesDir,
} from '../../../cli/embedded-postgres-module.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { freePort, tempDir, waitFor } from '../../support/kit.js'
import { recordCluster } from '../../support/process-registry.js'
import { fetchCancelledOnRoleLock } from '../../support/role-lock.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const SUPERUSER_PASSWORD = 'embedded-log-test-superuser'
/** A JWT, as the embedded provider mints them (an ES256 header is `eyJ…`): any token at all. */
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/

/**
 * A Postgres from the same binaries, set up as `dev` sets up its embedded one (SCRAM logins,
 * loopback only), that logs every statement (`log_statement=all`) and every error's statement.
 * Its log is what it writes to stderr, kept line by line. Stopped and removed after the test.
 */
async function loggingPostgres() {
  const dir = await tempDir('lakebase-embedded-log-')
  await chmod(dir, 0o755)
  await letPostgresUserReach(dir, await postgresBinariesDir())
  const log: string[] = []
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'log_statement=all',
      '-c',
      'log_min_error_statement=error',
    ],
    onLog: (line) => log.push(String(line)),
    onError: (line) => log.push(String(line)),
  })
  const connect = (database: string) =>
    postgres({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: SUPERUSER_PASSWORD,
      database,
      ssl: false,
      max: 2,
      onnotice: () => {},
    })
  let admin: postgres.Sql | undefined
  const stop = async () => {
    await admin?.end({ timeout: 1 })
    await server.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
  cleanup.push(stop)
  await server.initialise()
  recordCluster(join(dir, 'data'))
  await server.start()
  const maintenance = connect('postgres')
  await maintenance.unsafe(`create database ${EMBEDDED_DATABASE}`)
  await maintenance.end()
  admin = connect(EMBEDDED_DATABASE)
  return {
    host: '127.0.0.1',
    port,
    database: EMBEDDED_DATABASE,
    admin,
    /** Another superuser session on the database, closed by the caller. */
    connect: () => connect(EMBEDDED_DATABASE),
    log: () => log.join(''),
  }
}

describe('EmbeddedProvider on the embedded Postgres', () => {
  it('sets each token as the role’s password without the token in any statement Postgres logs', async () => {
    const server = await loggingPostgres()
    const clock = new ManualClock(Date.now())
    const user = 'dev-log@example.com'
    const provider = new EmbeddedProvider({
      admin: server.admin,
      host: server.host,
      port: server.port,
      database: server.database,
      user,
      clock,
    })
    const tokens: string[] = []
    for (let i = 0; i < 3; i++) {
      const credential = await provider.fetch(AbortSignal.timeout(10_000))
      tokens.push(credential.password)
      // The token logs in (SCRAM, as `dev` configures the server): the verifier is its own.
      const sql = postgres({
        host: credential.host,
        port: credential.port,
        database: credential.database,
        user: credential.user,
        password: credential.password,
        ssl: false,
        max: 1,
        onnotice: () => {},
      })
      try {
        expect(await sql`select current_user as who`).toEqual([{ who: user }])
      } finally {
        await sql.end({ timeout: 1 })
      }
      await clock.advance(1_000)
    }
    // A fetch whose ALTER fails: Postgres logs the statement of an error whatever log_statement
    // says. Another session holds a lock on the role, and the deadline cancels the waiting ALTER.
    const holder = server.connect()
    cleanup.push(() => holder.end({ timeout: 1 }))
    const cancelled = await fetchCancelledOnRoleLock((signal) => provider.fetch(signal), user, {
      holder,
      watch: server.admin,
    })
    expect(cancelled.errorClass).toBe('timeout')

    // Postgres writes its log to a pipe this process reads: wait for the error's lines to come in.
    const log = await waitFor(
      () => server.log().includes('STATEMENT:  alter role "dev-log@example.com"') && server.log(),
      { what: 'the cancelled statement in the log' },
    )
    expect(log).toContain('ERROR:  canceling statement due to user request')
    // Every token minted, the cancelled one's too (never returned): none is in the log.
    expect(new Set(tokens).size).toBe(3)
    for (const token of tokens) expect(log).not.toContain(token)
    expect(log).not.toMatch(JWT)
    // Yet the log has each statement that set a password, with what it set: the verifier.
    expect(
      log.match(
        /statement: alter role "dev-log@example\.com" with login password 'SCRAM-SHA-256\$4096:/g,
      ),
    ).toHaveLength(4)
    expect(
      log.match(
        /STATEMENT: {2}alter role "dev-log@example\.com" with login password 'SCRAM-SHA-256\$4096:/g,
      ),
    ).toHaveLength(1)
  })
})
