import type { SslMode } from './credential.js'

/** postgres.js reads no `PGSSLMODE`; map libpq's modes onto its `ssl` option. */
export function sslOption(mode: SslMode): boolean | 'prefer' | 'require' | 'verify-full' {
  switch (mode) {
    case 'disable':
      return false
    case 'prefer':
      return 'prefer'
    case 'require':
      return 'require'
    case 'verify-ca':
    case 'verify-full':
      return 'verify-full'
  }
}
