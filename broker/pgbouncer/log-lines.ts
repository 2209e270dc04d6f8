/** What one line of PgBouncer's log tells the broker. */
export type LogEvent =
  /** Listening: `process up: PgBouncer 1.18.0, …`. */
  | { kind: 'up' }
  /**
   * `cannot listen on 127.0.0.1:6432: bind(): Address already in use`: PgBouncer goes on
   * without that address (a warning only), so the broker must notice.
   */
  | { kind: 'listen-failed' }
  /** `got SIGHUP, re-reading config`: the files on disk are now the ones in use. */
  | { kind: 'reloading' }
  /**
   * A server connection opened, before its login: `S-0x…: db/user@host:port new connection to
   * server`. `server` is PgBouncer's name for it (`S-0x…`), reused once it is closed.
   */
  | { kind: 'server-connection'; server: string; database: string }
  /**
   * The server refused the password (28P01, `password authentication failed`). PgBouncer logs
   * it without the pool's name; the `closing because: login failed` line right after names it.
   */
  | { kind: 'password-refused' }
  /** `S-0x…: db/user@host:port closing because: login failed`. */
  | { kind: 'login-failed'; server: string; database: string }
  /** A server connection closed for any other reason. */
  | { kind: 'server-closed'; server: string }
  | { kind: 'other' }

/** Log levels by PgBouncer's names for them. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

export interface LogLine {
  /** The level to log it at in the broker's log. */
  level: LogLevel
  /** The line without PgBouncer's timestamp and pid. */
  text: string
  event: LogEvent
}

/**
 * Client and server lines (`LOG`) are routine: each login and close, at debug. PgBouncer's
 * warnings and errors are the broker's too.
 */
const LEVELS: Record<string, LogLevel> = {
  NOISE: 'trace',
  DEBUG: 'trace',
  LOG: 'debug',
  WARNING: 'warn',
  ERROR: 'error',
  FATAL: 'fatal',
}

/** `2026-12-07 10:11:57.594 UTC [26402] LOG text`. */
const LINE = /^\S+ \S+ \S+ \[\d+\] ([A-Z]+) (.*)$/
/** A server connection's prefix: `S-0x55bd7a38a7a0: db/user@127.0.0.1:5432 `. */
const SERVER = /^(S-[0-9a-fx]+): ([^/\s]+)\/\S* (.*)$/
const PASSWORD_REFUSED = /login failed: FATAL:? password authentication failed/

/** What one line of PgBouncer's stdout or stderr says. A line it did not format is kept as is. */
export function parseLogLine(line: string): LogLine {
  const match = LINE.exec(line)
  if (!match) return { level: 'info', text: line, event: { kind: 'other' } }
  const [, levelName = '', text = ''] = match
  return { level: LEVELS[levelName] ?? 'info', text, event: eventOf(text) }
}

function eventOf(text: string): LogEvent {
  if (text.startsWith('process up:')) return { kind: 'up' }
  if (text.startsWith('got SIGHUP')) return { kind: 'reloading' }
  if (text.startsWith('cannot listen on')) return { kind: 'listen-failed' }
  if (PASSWORD_REFUSED.test(text)) return { kind: 'password-refused' }
  const server = SERVER.exec(text)
  if (server) {
    const [, id = '', database = '', rest = ''] = server
    if (rest.startsWith('new connection to server'))
      return { kind: 'server-connection', server: id, database }
    if (rest.startsWith('closing because: login failed'))
      return { kind: 'login-failed', server: id, database }
    if (rest.startsWith('closing because:')) return { kind: 'server-closed', server: id }
  }
  return { kind: 'other' }
}

/** A server login the server refused, with what was loaded when that connection began. */
export interface RefusedLogin<T> {
  database: string
  /** What {@link RefusedLogins.feed} was given with the connection's `server-connection` line. */
  startedWith: T | undefined
}

/**
 * Joins a refused password to the server connection and pool it was refused for, and to what
 * the caller had loaded when that connection began (its password is the one loaded then, or a
 * newer one): {@link feed} answers on the `login failed` line that follows the refusal. PgBouncer
 * is single-threaded, so nothing comes between the two lines.
 */
export class RefusedLogins<T> {
  #pending = false
  readonly #startedWith = new Map<string, T>()

  /** `current`: what is loaded now, remembered for a connection that begins on this line. */
  feed(event: LogEvent, current: T): RefusedLogin<T> | undefined {
    switch (event.kind) {
      case 'password-refused':
        this.#pending = true
        return undefined
      case 'server-connection':
        this.#startedWith.set(event.server, current)
        return undefined
      case 'server-closed':
        this.#startedWith.delete(event.server)
        return undefined
      case 'login-failed': {
        const startedWith = this.#startedWith.get(event.server)
        this.#startedWith.delete(event.server)
        const refused = this.#pending
        this.#pending = false
        return refused ? { database: event.database, startedWith } : undefined
      }
      default:
        return undefined
    }
  }
}
