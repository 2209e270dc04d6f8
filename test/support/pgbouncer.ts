import { findPgbouncer, PGBOUNCER_PACKAGE } from '../../broker/pgbouncer/binary.js'

/** Why the PgBouncer tests cannot run here (`.ci/run` installs it), or undefined when they can. */
export const pgbouncerMissing: string | undefined = await findPgbouncer(
  process.env.BROKER_PGBOUNCER_PATH,
  process.env.PATH,
).then(
  () => undefined,
  () =>
    `PgBouncer is not installed (apt-get install ${PGBOUNCER_PACKAGE}, or set BROKER_PGBOUNCER_PATH)`,
)
