/** Loopback names as they appear in a `Host` header, a URL's `hostname` or `PGHOST`. */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '::1', '[::1]'])
const LOOPBACK_IPV4 = /^127(\.\d{1,3}){3}$/

/**
 * Whether a host name (no port) names this machine: `localhost`, any `127.x.y.z`, or `::1`
 * (with or without URL brackets), in any case. The one loopback check of the project: the
 * broker's `Host` guard, plain-`http://` workspace URLs and the TLS advice of configure and
 * doctor all ask it.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase()
  return LOOPBACK_NAMES.has(name) || LOOPBACK_IPV4.test(name)
}
