import postgres from 'postgres'
import { inject } from 'vitest'

/**
 * A new superuser client of its own on one of the suite's databases: a second "process" for
 * concurrency tests, or a session with settings of its own (`connection: { TimeZone }`).
 */
export function connect(
  database: string,
  options: postgres.Options<Record<string, never>> = {},
): postgres.Sql {
  const pg = inject('postgres')
  return postgres({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    database,
    onnotice: () => {},
    ...options,
  })
}
