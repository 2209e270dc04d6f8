import { isLoopbackHost } from '../client/loopback.js'

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * Validates a workspace URL (`DATABRICKS_HOST`, or a profile's `host`) and normalises it to its
 * origin, e.g. `https://adb-123.4.azuredatabricks.net`. A bare host name gets `https://`; a path,
 * query or fragment (as copied from a browser, `?o=…`) is dropped, as the Databricks SDKs do.
 *
 * @param raw the configured value
 * @param variable the setting's name, for the error message
 * @throws Error (a configuration error) when the value is not an `https://` URL or a loopback
 *   `http://` URL, or carries a user name or password.
 */
export function normaliseWorkspaceHost(raw: string, variable = 'DATABRICKS_HOST'): string {
  const trimmed = raw.trim()
  if (trimmed === '') throw new Error(`${variable} is empty; set it to the workspace URL`)
  const withScheme = HAS_SCHEME.test(trimmed) ? trimmed : `https://${trimmed}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    // The value itself is not repeated: a mistyped variable might hold a secret.
    throw new Error(
      `${variable} is not a valid URL; expected e.g. https://<workspace>.cloud.databricks.com`,
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`${variable} must not contain a user name or password; use DATABRICKS_TOKEN`)
  }
  if (url.protocol === 'https:') return url.origin
  // Plain http only on loopback: tests and local emulators.
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url.origin
  if (url.protocol === 'http:') {
    // Workspace tokens travel in a header; over plain HTTP anyone on the path could read them.
    throw new Error(
      `${variable} must use https:// (got http://${url.host}); plain http is allowed only for a loopback host (localhost, 127.x.y.z, [::1])`,
    )
  }
  throw new Error(`${variable} must be an https:// URL (got the scheme ${url.protocol})`)
}
