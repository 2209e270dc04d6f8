import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import EmbeddedPostgres, {
  letPostgresUserReach,
  postgresBinariesDir,
} from '../../cli/embedded-postgres-module.js'
import { freePort } from './free-port.js'
import { recordCluster } from './process-registry.js'

/** The superuser login of the suite's one real Postgres server, for test helpers only. */
export interface TestPostgres {
  host: string
  port: number
  user: string
  password: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres
  }
}

/**
 * Starts one real Postgres (the embedded-postgres binaries, no installed server needed) for the
 * whole run; each test file makes its own databases on it.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-test-pg-'))
  // Postgres refuses to run as root, so it runs as another user that must reach its data dir
  // and its binaries.
  await chmod(dir, 0o755)
  await letPostgresUserReach(dir, await postgresBinariesDir())
  const port = await freePort()
  const password = 'test-superuser-password'
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  // Recorded before it starts, so that the leftover check looks for it whatever happens next.
  recordCluster(join(dir, 'data'), project.getProvidedContext().processRun)
  await server.start()
  project.provide('postgres', { host: '127.0.0.1', port, user: 'postgres', password })
  return async () => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
