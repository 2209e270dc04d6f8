import { classifyDatabaseError, type DatabaseFailure, ruleFor } from '../client/sqlstate.js'

/**
 * pg raises these itself, without a code, when the connection is already known to be dead: the
 * statement was never written to the socket.
 */
const NEVER_SENT = new Set([
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
])

/** pg's code-less errors for a connection that went away or never came. */
const DROPPED = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
])

/** pg's answer when a server refuses TLS; `prefer` then falls back to plain text. */
export const NO_TLS_MESSAGE = 'The server does not support SSL connections'

/**
 * {@link classifyDatabaseError} for node-postgres: SQLSTATEs and socket codes as for postgres.js, plus pg's
 * own code-less errors for a dead connection.
 */
export function pgFailure(err: unknown): DatabaseFailure {
  const failure = classifyDatabaseError(err)
  if (failure !== 'other') return failure
  const message = err instanceof Error ? err.message : undefined
  if (message !== undefined && (NEVER_SENT.has(message) || DROPPED.has(message))) {
    return 'connection'
  }
  return 'other'
}

/** The statement failed before pg wrote it to the server, so it cannot have run. */
export function neverSent(err: unknown): boolean {
  return err instanceof Error && NEVER_SENT.has(err.message)
}

/**
 * A login that failed as it would against a server waking from scale-to-zero or restarting: the
 * connection refused, reset or cut short (the SQLSTATEs and codes the table marks `wakes`, and
 * pg's own messages for a connection that went away).
 */
export function mayBeWaking(err: unknown): boolean {
  if (ruleFor(err).wakes) return true
  return err instanceof Error && DROPPED.has(err.message)
}
