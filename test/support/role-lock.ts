import type postgres from 'postgres'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { deferred } from './deferred.js'
import { rejectionOf } from './rejection.js'
import { waitFor } from './wait-for.js'

/**
 * Runs `fetch` (an embedded provider's) while another session holds a lock on `role`, so that its
 * `ALTER ROLE … PASSWORD` waits; once Postgres shows it waiting, aborts the fetch's signal as the
 * cache's deadline would, then lets the lock go. Returns how the fetch failed.
 *
 * @param sessions two sessions of their own: `holder` keeps the lock in an open transaction,
 *   `watch` looks for the waiting statement (the provider's pool is busy with it)
 */
export async function fetchCancelledOnRoleLock(
  fetch: (signal: AbortSignal) => Promise<unknown>,
  role: string,
  sessions: { holder: postgres.Sql; watch: postgres.Sql },
): Promise<UpstreamError> {
  const release = deferred<void>()
  const locked = deferred<void>()
  const held = sessions.holder.begin(async (tx) => {
    await tx.unsafe(`alter role "${role.replaceAll('"', '""')}" connection limit 100`)
    locked.resolve()
    await release.promise
  })
  await locked.promise
  const deadline = new AbortController()
  const failed = rejectionOf(fetch(deadline.signal), UpstreamError)
  await waitFor(
    async () => {
      const [row] = await sessions.watch<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where wait_event_type = 'Lock' and query like 'alter role%password%'`
      return (row?.n ?? 0) > 0
    },
    { what: 'the ALTER ROLE waiting on the lock' },
  )
  deadline.abort(new UpstreamError('timeout', 'the deadline passed'))
  const err = await failed
  release.resolve()
  await held
  return err
}
