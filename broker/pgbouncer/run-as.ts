import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ConfigError } from '../../shared/process/config-error.js'

const run = promisify(execFile)

/** The account PgBouncer runs as under root: the one Debian's package runs it as, and Postgres. */
export const PGBOUNCER_SYSTEM_USER = 'postgres'

/** A user and group to run PgBouncer as, and to give its folder and files to. */
export interface RunAs {
  name: string
  uid: number
  gid: number
}

/**
 * Who PgBouncer runs as: undefined (the broker's own user) unless the broker runs as root, which
 * PgBouncer refuses ("PgBouncer should not run as root"). Under root it runs as
 * {@link PGBOUNCER_SYSTEM_USER}, as the embedded Postgres does; clients running as root still
 * reach its socket, since root passes every file mode.
 *
 * @throws ConfigError when the broker is root and that user does not exist.
 */
export async function pgbouncerRunAs(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined
  try {
    const [uid, gid] = await Promise.all(
      ['-u', '-g'].map(async (flag) =>
        Number((await run('id', [flag, PGBOUNCER_SYSTEM_USER])).stdout),
      ),
    )
    if (Number.isInteger(uid) && Number.isInteger(gid))
      return { name: PGBOUNCER_SYSTEM_USER, uid: uid as number, gid: gid as number }
  } catch {
    // No such user: answered below.
  }
  throw new ConfigError(
    `PgBouncer will not run as root, and there is no user ${PGBOUNCER_SYSTEM_USER} to run it as`,
    `run the broker as another user, or create the system user ${PGBOUNCER_SYSTEM_USER}`,
  )
}
