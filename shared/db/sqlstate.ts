import { AppError } from '../errors.js'

/** Sent with 503 DATABASE_UNAVAILABLE: a restarting Postgres is usually back within seconds. */
export const DATABASE_RETRY_AFTER_S = 5

export type Failure = 'auth' | 'role' | 'connection' | 'value' | 'other'

const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01', // admin_shutdown: pg_terminate_backend, or a restart
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '53300', // too_many_connections
])

/** The SQLSTATE or driver code of an error, looking through drizzle's wrapper. */
export function codeOf(err: unknown): string | undefined {
  for (
    let e: unknown = err, depth = 0;
    e && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

export function classify(err: unknown): Failure {
  if (err instanceof AppError) return 'other'
  const code = codeOf(err)
  if (code === undefined) return 'other'
  if (code === '28P01') return 'auth'
  if (code === '28000' || code === '3D000') return 'role'
  if (CONNECTION_CODES.has(code) || code.startsWith('08')) return 'connection'
  // Class 22 (data exception: a NUL, a date out of range…) and 54001 (nesting too deep for
  // the parser) are about a value the request carried, not about the database.
  if (code.startsWith('22') || code === '54001') return 'value'
  return 'other'
}

export function toAppError(failure: Exclude<Failure, 'other'>, err: unknown): AppError {
  const code = codeOf(err)
  if (failure === 'value') {
    return new AppError(
      400,
      'INVALID_REQUEST',
      'The database cannot store a value in the request',
      {
        technicalDetails: { sqlstate: code },
        cause: err,
      },
    )
  }
  if (failure === 'role') {
    return new AppError(
      503,
      'LAKEBASE_NOT_CONFIGURED',
      'Postgres refused the login: the role or database does not exist',
      {
        technicalDetails: {
          error_type: 'ConfigurationError',
          sqlstate: code,
          suggestion:
            'set PGUSER to your identity (an email or a service principal id, never "token") and PGDATABASE to an existing database',
        },
        cause: err,
      },
    )
  }
  return new AppError(503, 'DATABASE_UNAVAILABLE', 'The database is not reachable right now', {
    technicalDetails: {
      error_type: failure === 'auth' ? 'AuthenticationFailed' : 'ConnectionFailed',
      code,
    },
    retryAfter: DATABASE_RETRY_AFTER_S,
    cause: err,
  })
}
