import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { type Env, envValue } from '../process/env.js'
import type { SslMode } from './credential.js'
import { LakebaseOptionError } from './errors.js'

/** `PGSSLROOTCERT=system`: libpq 16's word for "the system's CAs", understood here too. */
export const SYSTEM_ROOT_CERT = 'system'

/** What postgres.js takes as its `ssl` option. */
export type PostgresSsl = boolean | 'prefer' | 'require' | ConnectionOptions

/**
 * How each libpq `sslmode` checks the server, in Node's TLS terms (`undefined`: no TLS).
 *
 * - `disable`: no TLS.
 * - `prefer`, `require`: TLS without any check of the certificate. Unlike libpq, `require`
 *   stays unverified even when `PGSSLROOTCERT` is set: ask for `verify-ca` to check the chain.
 * - `verify-ca`: the chain must lead to the CA in `PGSSLROOTCERT` (else a system CA); any
 *   host name is accepted (Node checks the name in `checkServerIdentity`, so it answers "fine").
 * - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
 *
 * `PGSSLROOTCERT` unset or `system` means the system's CAs (libpq would look for
 * `~/.postgresql/root.crt` instead). The CA file is read here, so call this when opening a pool,
 * not per connection; a file that cannot be read throws a {@link LakebaseOptionError}.
 */
export function tlsOptions(mode: SslMode, env: Env = process.env): ConnectionOptions | undefined {
  switch (mode) {
    case 'disable':
      return undefined
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false }
    case 'verify-ca':
      return { ...rootCa(env), rejectUnauthorized: true, checkServerIdentity: anyHostName }
    case 'verify-full':
      return { ...rootCa(env), rejectUnauthorized: true }
  }
}

/**
 * postgres.js reads no `PGSSLMODE`: its `ssl` option for libpq's mode, connecting to `host`.
 * `prefer` stays postgres.js's own `'prefer'`, which falls back to plain text when the server
 * has no TLS.
 *
 * Trap: for an IP address postgres.js (3.4) hands Node no host name, and Node then checks the
 * certificate against `localhost`: `verify-full` to 127.0.0.2 accepted a certificate for
 * localhost. So the host goes into the TLS options here.
 */
export function sslOption(
  mode: SslMode,
  host: string | undefined,
  env: Env = process.env,
): PostgresSsl {
  if (mode === 'disable') return false
  if (mode === 'prefer' || mode === 'require') return mode
  const options = tlsOptions(mode, env)
  return options ? { ...options, host } : false
}

/**
 * node-postgres's `ssl` option for libpq's mode. pg has no `prefer`: it refuses a server without
 * TLS, so `prefer` asks for TLS here and `createPool` falls back to plain text itself.
 */
export function pgSslOption(mode: SslMode, env: Env = process.env): false | ConnectionOptions {
  return tlsOptions(mode, env) ?? false
}

/**
 * Start-up check: `PGSSLROOTCERT`, when it names a file, can be read. Throws a
 * {@link LakebaseOptionError} naming it otherwise.
 */
export function checkRootCert(env: Env = process.env): void {
  rootCa(env)
}

function rootCa(env: Env): { ca?: string } {
  const path = envValue(env, 'PGSSLROOTCERT')
  if (path === undefined || path === SYSTEM_ROOT_CERT) return {}
  try {
    return { ca: readFileSync(path, 'utf8') }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new LakebaseOptionError('PGSSLROOTCERT', `cannot read the CA file ${path} (${code})`)
  }
}

/** verify-ca: the chain was checked against the CA; the host name is not. */
const anyHostName = (): Error | undefined => undefined
