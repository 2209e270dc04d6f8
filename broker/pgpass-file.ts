import { randomBytes } from 'node:crypto'
import { chmod, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { ProviderCredential } from '../shared/client/credential.js'
import { describeError } from '../shared/process/error-handler.js'
import type { Logger } from '../shared/process/logger.js'
import { DEFAULT_TARGET } from './config.js'
import { type HeldSource, heldCredential } from './held-credential.js'

/** Owner read and write only: libpq ignores a password file that others can read. */
const PGPASS_MODE = 0o600

/** The fields of one `.pgpass` line, in libpq's order. */
type PgpassFields = Pick<ProviderCredential, 'host' | 'port' | 'database' | 'user' | 'password'>

/**
 * One `.pgpass` line, `host:port:database:user:password`, with `\` and `:` escaped by a
 * backslash as libpq reads them.
 *
 * @throws Error when a field holds a line break, which the format cannot carry (the message
 *   names the field, never its value).
 */
export function pgpassLine(fields: PgpassFields): string {
  const values = {
    host: fields.host,
    port: String(fields.port),
    database: fields.database,
    user: fields.user,
    password: fields.password,
  }
  for (const [name, value] of Object.entries(values)) {
    if (/[\r\n]/.test(value)) throw new Error(`the credential's ${name} holds a line break`)
  }
  return Object.values(values)
    .map((value) => value.replaceAll('\\', '\\\\').replaceAll(':', '\\:'))
    .join(':')
}

/**
 * Keeps a libpq password file (`BROKER_PGPASS_FILE`) holding the current credential of every
 * target, one line each, so that `psql`, psycopg, dbt or anything on libpq connects with
 * `PGPASSFILE` alone and keeps connecting across rotations.
 *
 * Each write goes to a fresh file beside it (mode 0600) and is renamed over it, so a reader
 * sees the old file or the new one, never half of one. Writes run one after another, each with
 * every target's latest credential. libpq takes the first line that matches, so the `default`
 * target comes first and the others follow by name.
 *
 * A failed write is logged (path and error code, never the content) and the next refresh tries
 * again: the broker keeps serving over HTTP whatever happens to the file.
 */
export class PgpassFile {
  readonly #path: string
  readonly #logger: Logger
  readonly #credentials = new Map<string, ProviderCredential>()
  #writing: Promise<void> = Promise.resolve()

  constructor(path: string, logger: Logger) {
    this.#path = path
    this.#logger = logger
  }

  /** Records `target`'s new credential and rewrites the file; resolves once it is written. */
  update(target: string, credential: ProviderCredential): Promise<void> {
    this.#credentials.set(target, credential)
    this.#writing = this.#writing.then(() => this.#write())
    return this.#writing
  }

  /** Rewrites the file with `target`'s credential as `source` holds it; see {@link heldCredential}. */
  async updateFrom(target: string, source: HeldSource | undefined): Promise<void> {
    const held = await heldCredential(source)
    if (held) await this.update(target, held.credential)
  }

  /** The file's text: one line per target, `default` first. */
  text(): string {
    const targets = [...this.#credentials.keys()].sort((a, b) =>
      a === DEFAULT_TARGET ? -1 : b === DEFAULT_TARGET ? 1 : a.localeCompare(b),
    )
    const lines: string[] = []
    for (const target of targets) {
      const credential = this.#credentials.get(target)
      if (credential === undefined) continue
      try {
        lines.push(pgpassLine(credential))
      } catch (err) {
        this.#logger.warn(
          { target, reason: (err as Error).message },
          'left out of the .pgpass file',
        )
      }
    }
    return lines.map((line) => `${line}\n`).join('')
  }

  async #write(): Promise<void> {
    const temporary = join(
      dirname(this.#path),
      `.${basename(this.#path)}.${randomBytes(6).toString('hex')}.tmp`,
    )
    try {
      // `wx`: never follow or reuse a file someone else put at the temporary name.
      await writeFile(temporary, this.text(), { mode: PGPASS_MODE, flag: 'wx' })
      // The mode given at creation is narrowed by the umask only, never widened; set it outright.
      await chmod(temporary, PGPASS_MODE)
      await rename(temporary, this.#path)
      this.#logger.debug({ path: this.#path, targets: this.#credentials.size }, '.pgpass written')
    } catch (err) {
      await rm(temporary, { force: true }).catch(() => {})
      this.#logger.warn({ path: this.#path, err: describeError(err) }, '.pgpass not written')
    }
  }
}
