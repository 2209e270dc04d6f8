import { LakebaseError } from '../client/errors.js'

/** Sent with 503 DATABASE_UNAVAILABLE: a restarting Postgres is usually back within seconds. */
export const DATABASE_RETRY_AFTER_S = 5
/** Sent after a serialization failure or deadlock outlived its retries: the contention is brief. */
export const CONFLICT_RETRY_AFTER_S = 1
/** Sent with DATABASE_TIMEOUT: whatever held the statement up (a lock, a load) takes a while. */
export const TIMEOUT_RETRY_AFTER_S = 5

/** The migrate command, as the suggestion of DATABASE_NOT_MIGRATED names it. */
export const MIGRATE_COMMAND = '`npm run migrate` (or `npx lakebase-broker migrate`)'

export type DatabaseFailure =
  | 'auth'
  | 'role'
  | 'connection'
  | 'busy'
  | 'read-only'
  | 'conflict'
  | 'timeout'
  | 'not-migrated'
  | 'permission'
  | 'value'
  | 'other'

/**
 * When a failed statement may run again.
 * - `login`: the login failed, so nothing ran; retried with a fresh credential.
 * - `unless-ran`: retried once when the statement never reached the server or only reads; a
 *   write that may have committed is not (its retry could change the answer).
 * - `conflict`: Postgres rolled the statement back; retried a few times with jitter, outside a
 *   transaction only.
 * - `never`: a retry meets the same answer.
 */
export type Retry = 'login' | 'unless-ran' | 'conflict' | 'never'

/** What the database layer does about one kind of failure. */
export interface Rule {
  failure: DatabaseFailure
  retry: Retry
  /** The connection (and the pool that made it) can no longer be trusted: open a new pool. */
  retire: boolean
  /**
   * Transient while a server wakes (Autoscaling's scale-to-zero) or restarts: a statement that
   * never ran waits for it within the wake budget instead of failing at once.
   */
  wakes: boolean
}

const rule = (failure: DatabaseFailure, retry: Retry, extra: Partial<Rule> = {}): Rule => ({
  failure,
  retry,
  retire: false,
  wakes: false,
  ...extra,
})

/**
 * Every SQLSTATE and driver code the layer answers, and why. Codes not listed (and class 08,
 * 22 below) are `other`: a bug in our code, answered 500.
 */
const RULES: Readonly<Record<string, Rule>> = {
  // A password refused after a rotation: the login failed, so nothing ran.
  '28P01': rule('auth', 'login'),
  // The role or database does not exist: a setting to fix, which no retry changes.
  '28000': rule('role', 'never'),
  '3D000': rule('role', 'never'),
  // The server went away under the connection (pg_terminate_backend, a restart, a failover):
  // the statement may have run, and postgres.js 3.4 hands the error on to the connection's
  // next query, so the pool is replaced.
  '57P01': rule('connection', 'unless-ran', { retire: true, wakes: true }),
  '57P02': rule('connection', 'unless-ran', { retire: true, wakes: true }),
  CONNECTION_CLOSED: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  CONNECTION_ENDED: rule('connection', 'unless-ran', { retire: true }),
  CONNECTION_DESTROYED: rule('connection', 'unless-ran', { retire: true }),
  ECONNRESET: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  EPIPE: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  // Nobody listens (yet): a server starting, or an endpoint waking from scale-to-zero.
  ECONNREFUSED: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  CONNECT_TIMEOUT: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  ETIMEDOUT: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  EHOSTUNREACH: rule('connection', 'unless-ran', { retire: true, wakes: true }),
  // A host name that does not resolve is a setting, not a wake-up: fail at once.
  ENOTFOUND: rule('connection', 'never', { retire: true }),
  // The server is starting up or shutting down: it refused the login, so nothing ran.
  '57P03': rule('busy', 'unless-ran', { wakes: true }),
  // Too many connections: a retry right away only adds to the crowd.
  '53300': rule('busy', 'never'),
  // A write on a read-only server (a replica, or a primary mid-failover): nothing ran, but the
  // same connection will refuse again, so the pool is replaced and the client told to retry.
  '25006': rule('read-only', 'never', { retire: true }),
  // Serialization failure and deadlock: Postgres rolled the statement back.
  '40001': rule('conflict', 'conflict'),
  '40P01': rule('conflict', 'conflict'),
  // statement_timeout (or a cancel): the statement was rolled back; a retry would wait as long.
  '57014': rule('timeout', 'never'),
  // A missing table or column: the migrations have not been applied to this database.
  '42P01': rule('not-migrated', 'never'),
  '42703': rule('not-migrated', 'never'),
  // The login role lacks a grant: the owner must run a GRANT (printed in the suggestion).
  '42501': rule('permission', 'never'),
  // Nesting too deep for the parser: a value the request carried.
  '54001': rule('value', 'never'),
}

/** Class 08 (connection exception) as a whole, for the codes not listed one by one. */
const CONNECTION_CLASS = rule('connection', 'unless-ran', { retire: true, wakes: true })
/** Class 22 (data exception: a NUL, a date out of range…): about a value, not the database. */
const VALUE_CLASS = rule('value', 'never')
const OTHER = rule('other', 'never')

/** The SQLSTATE or driver code of an error, looking through drizzle's wrapper. */
export function sqlstateOf(err: unknown): string | undefined {
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

/** The table's row for an error; `other` for anything it does not list (and for AppErrors). */
export function ruleFor(err: unknown): Rule {
  if (err instanceof LakebaseError) return OTHER
  const code = sqlstateOf(err)
  if (code === undefined) return OTHER
  const listed = RULES[code]
  if (listed) return listed
  if (code.startsWith('08')) return CONNECTION_CLASS
  if (code.startsWith('22')) return VALUE_CLASS
  return OTHER
}

/** The kind of failure an error is. */
export function classifyDatabaseError(err: unknown): DatabaseFailure {
  return ruleFor(err).failure
}

/** What an answer can name besides the error itself. */
export interface AnswerContext {
  /** The Postgres role the connection logged in as. */
  user?: string | undefined
}

/**
 * The answer for a database error, by the table above; undefined for `other` (a bug).
 * An LakebaseError anywhere in the cause chain (e.g. CREDENTIAL_UNAVAILABLE under drizzle's wrapper)
 * is the answer itself.
 */
export function databaseErrorAnswer(
  err: unknown,
  context: AnswerContext = {},
): LakebaseError | undefined {
  const app = appErrorIn(err)
  if (app) return app
  const failure = classifyDatabaseError(err)
  return failure === 'other' ? undefined : toLakebaseError(failure, err, context)
}

function appErrorIn(err: unknown): LakebaseError | undefined {
  for (
    let e: unknown = err, depth = 0;
    e && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if (e instanceof LakebaseError) return e
  }
  return undefined
}

/** Postgres's own message, when its class never carries a value from the statement. */
export function safeDatabaseMessage(err: unknown): string | undefined {
  const code = sqlstateOf(err)
  // Class 22 and 23 messages quote the offending value ("invalid input syntax: …",
  // "Key (email)=(…) already exists"), P0001 whatever a function raised: user data.
  if (code === undefined || /^(22|23|P0)/.test(code)) return undefined
  for (
    let e: unknown = err, depth = 0;
    e && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if ((e as { code?: unknown }).code === code && e instanceof Error) return e.message
  }
  return undefined
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

/** "permission denied for table user_preferences" → the kind and name of the object. */
function deniedObject(message: string | undefined): { kind: string; name: string } | undefined {
  const match = message?.match(/permission denied for (\w+) (.+)$/)
  return match?.[1] && match[2] ? { kind: match[1], name: match[2] } : undefined
}

/** The GRANT an owner runs so that `role` may use `object`. */
export function grantFor(role: string, object: { kind: string; name: string } | undefined) {
  const to = `TO ${quoteIdent(role)}`
  if (object?.kind === 'schema') return `GRANT USAGE, CREATE ON SCHEMA ${object.name} ${to};`
  if (object?.kind === 'sequence') return `GRANT USAGE, SELECT ON SEQUENCE ${object.name} ${to};`
  if (object?.kind === 'table' || object?.kind === 'relation') {
    return `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${object.name} ${to};`
  }
  return `GRANT USAGE ON SCHEMA public ${to}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public ${to}; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public ${to};`
}

/** The error body for a failure the table lists. */
export function toLakebaseError(
  failure: Exclude<DatabaseFailure, 'other'>,
  err: unknown,
  context: AnswerContext = {},
): LakebaseError {
  const sqlstate = sqlstateOf(err)
  const unavailable = (message: string, errorType: string, retryAfter = DATABASE_RETRY_AFTER_S) =>
    new LakebaseError(503, 'DATABASE_UNAVAILABLE', message, {
      technicalDetails: { error_type: errorType, code: sqlstate },
      retryAfter,
      cause: err,
    })
  switch (failure) {
    case 'value':
      return new LakebaseError(
        400,
        'INVALID_REQUEST',
        'The database cannot store a value in the request',
        {
          technicalDetails: { sqlstate },
          cause: err,
        },
      )
    case 'role':
      return new LakebaseError(
        503,
        'LAKEBASE_NOT_CONFIGURED',
        'Postgres refused the login: the role or database does not exist',
        {
          technicalDetails: {
            error_type: 'ConfigurationError',
            sqlstate,
            suggestion:
              'set PGUSER to your identity (an email or a service principal id, never "token") and PGDATABASE to an existing database',
          },
          cause: err,
        },
      )
    case 'not-migrated': {
      const message = safeDatabaseMessage(err)
      return new LakebaseError(503, 'DATABASE_NOT_MIGRATED', 'The database has not been migrated', {
        technicalDetails: {
          error_type: 'NotMigrated',
          sqlstate,
          ...(message ? { postgres_message: message } : {}),
          suggestion: `apply the migrations: run ${MIGRATE_COMMAND} against this database`,
        },
        cause: err,
      })
    }
    case 'permission': {
      const role = context.user ?? 'the app role'
      const object = deniedObject(safeDatabaseMessage(err))
      const what = object ? `${object.kind} ${object.name}` : 'an object it uses'
      return new LakebaseError(
        503,
        'DATABASE_PERMISSION_DENIED',
        `The role ${role} has no permission on ${what}`,
        {
          technicalDetails: {
            error_type: 'PermissionDenied',
            sqlstate,
            role: context.user ?? null,
            object: object ? `${object.kind} ${object.name}` : null,
            suggestion: `as the owner of ${what} (e.g. the person who created the tables), run: ${grantFor(role, object)} A Databricks Apps service principal on Postgres 15+ also needs USAGE, CREATE on the schema public; \`npm run doctor\` prints every grant it lacks.`,
          },
          cause: err,
        },
      )
    }
    case 'timeout':
      return new LakebaseError(
        503,
        'DATABASE_TIMEOUT',
        'The statement ran past statement_timeout',
        {
          technicalDetails: {
            error_type: 'StatementTimeout',
            sqlstate,
            suggestion:
              'retry; if it keeps happening, look for a held lock or raise LAKEBASE_STATEMENT_TIMEOUT_MS',
          },
          retryAfter: TIMEOUT_RETRY_AFTER_S,
          cause: err,
        },
      )
    case 'conflict':
      return new LakebaseError(
        503,
        'DATABASE_CONFLICT',
        'Concurrent transactions collided (serialization failure or deadlock)',
        {
          technicalDetails: { error_type: 'Conflict', sqlstate },
          retryAfter: CONFLICT_RETRY_AFTER_S,
          cause: err,
        },
      )
    case 'read-only':
      return unavailable(
        'The database is read-only right now (a replica or a failover)',
        'ReadOnly',
      )
    case 'busy':
      return unavailable(
        sqlstate === '53300'
          ? 'The database has too many connections right now'
          : 'The database is starting up or shutting down',
        'Busy',
      )
    case 'auth':
      return unavailable('The database is not reachable right now', 'AuthenticationFailed')
    case 'connection':
      return unavailable('The database is not reachable right now', 'ConnectionFailed')
  }
}
