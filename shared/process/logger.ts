import { type DestinationStream, type Logger, pino } from 'pino'

export type { Logger } from 'pino'

/**
 * Field paths that are censored wherever they appear in a log object. Secrets are never put in
 * log objects on purpose; this is the second line of defence.
 */
export const REDACTED_PATHS = [
  'password',
  'token',
  'accessToken',
  'access_token',
  'clientSecret',
  'client_secret',
  'authorization',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.clientSecret',
  '*.client_secret',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-forwarded-access-token"]',
  'req.headers["x-lakebase-user-token"]',
  'headers["x-forwarded-access-token"]',
  'headers["x-lakebase-user-token"]',
  'userToken',
  '*.userToken',
  'headers.authorization',
]

export interface LoggerOptions {
  name: string
  level?: string
  /** Where lines go (stdout by default); tests pass a capturing stream. */
  destination?: DestinationStream
}

/** A structured JSON logger with secret-bearing fields censored. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      // pino's browser build (what wrangler bundles for workerd) applies `redact` only to log
      // objects it builds itself; without this it hands the raw arguments to the console.
      browser: { asObject: true },
    },
    options.destination ?? pino.destination({ sync: false }),
  )
}
