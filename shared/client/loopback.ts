/** Loopback names and addresses besides 127.0.0.0/8, lower case, IPv6 with or without brackets. */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '::1', '[::1]'])

/** 127.0.0.0/8: every address in it is loopback, not only 127.0.0.1. */
const IPV4_LOOPBACK = /^127(\.\d{1,3}){3}$/

/**
 * Whether a host name (without a port: a URL's `hostname`, a `Host` header's name, `PGHOST`) is
 * this machine: `localhost`, any 127.x.y.z, or `::1` (bracketed or not). Case does not matter.
 *
 * The one check for every place that trusts loopback: plain `http://` to a workspace emulator,
 * the broker's `Host` guard, TLS left off for a local Postgres, an `http://` broker URL.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase()
  return LOOPBACK_NAMES.has(name) || IPV4_LOOPBACK.test(name)
}
