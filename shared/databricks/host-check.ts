import { isLoopbackHost } from '../client/loopback.js'

/** The hosts a Lakebase database lists, as its lookup answered them. */
export interface ListedHosts {
  /** Where the broker connects: `read_write_dns`, or the endpoint's `status.hosts.host`. */
  host: string | undefined
  /** The unpooled read-only host: `read_only_dns`, or `status.hosts.read_only_host`. */
  readOnlyHost: string | undefined
  /**
   * The pooled (PgBouncer) hosts of an Autoscaling endpoint. Lakebase's pooler takes native
   * Postgres passwords only, so a minted credential must never be sent there.
   */
  pooledHosts: readonly string[]
}

/**
 * Whether a given `PGHOST` is worth checking against the database's hosts: a loopback host is a
 * tunnel, a local proxy or a test's own Postgres, put there on purpose, never another branch's
 * database.
 */
export function isCheckableHost(given: string | undefined): given is string {
  return given !== undefined && !isLoopbackHost(given)
}

/** What is wrong with a given host, and what to set instead. */
export interface HostProblem {
  /** Names the given host and the database's own. */
  problem: string
  fix: string
}

/**
 * What is wrong with a given `PGHOST`; undefined when it is one of the hosts the database lists
 * (or the database lists none to compare with). A stale `PGHOST` quietly serves another
 * branch's database; a pooled host refuses every OAuth login.
 *
 * @param what the database as the message should name it, e.g. `endpoint projects/p/…/e`
 */
export function givenHostProblem(
  given: string,
  what: string,
  listed: ListedHosts,
): HostProblem | undefined {
  const own = [listed.host, listed.readOnlyHost].filter((h): h is string => Boolean(h))
  if (own.length === 0) return undefined
  const name = canonical(given)
  if (own.some((host) => canonical(host) === name)) return undefined
  const fix = `set PGHOST to ${own[0]}, or unset it (and LAKEBASE_HOST) to look the host up`
  if (listed.pooledHosts.some((pooled) => canonical(pooled) === name)) {
    return {
      problem: `PGHOST ${given} is the pooled host of ${what}, and Lakebase's pooler accepts no OAuth token`,
      fix,
    }
  }
  return {
    problem: `PGHOST is ${given}, but ${what} lists ${own.join(' and ')}: a stale PGHOST connects to another database`,
    fix,
  }
}

/** Host names compare without case and without the root's trailing dot. */
function canonical(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '')
}
