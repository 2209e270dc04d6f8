import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { SslMode } from '../../shared/client/credential.js'
import { describeError } from '../../shared/process/error-handler.js'
import type { Logger } from '../../shared/process/logger.js'
import { letPostgresUserReach } from '../../shared/process/postgres-user.js'
import { type ClientConfig, DEFAULT_TARGET } from '../config.js'
import type { CachedCredential } from '../credential-cache.js'
import { mayRead } from '../middleware/client-auth.js'
import {
  AUTH_FILE,
  authText,
  CA_FILE,
  CONFIG_FILE,
  configText,
  databaseLine,
  HBA_FILE,
  hbaText,
  isPoolerName,
  type PoolerDatabase,
  type PoolerSettings,
  type PoolerUser,
  TCP_CONFIG_FILE,
  type TcpAccess,
  tcpConfigText,
} from './config-file.js'
import type { RunAs } from './run-as.js'

/** The folder: its owner's alone, as the socket's only gate. */
const DIR_MODE = 0o700
/** Every file: the owner's alone; the configuration holds the Lakebase token. */
const FILE_MODE = 0o600
/** The TCP PgBouncer's files. */
const TCP_FILES = [AUTH_FILE, HBA_FILE, TCP_CONFIG_FILE] as const
/** The TLS modes from weakest to strictest: the strictest any target asks for is PgBouncer's. */
const SSL_STRENGTH: readonly SslMode[] = [
  'disable',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
]

/** What one write put in PgBouncer's files: each database's target and credential version. */
export type Written = ReadonlyMap<string, { target: string; version: string }>

export interface PoolerFilesOptions {
  settings: Omit<PoolerSettings, 'sslMode' | 'caFile'>
  /** `PGSSLROOTCERT` of the targets (unless `system`): copied beside the configuration. */
  caPath?: string | undefined
  clients: readonly ClientConfig[]
  /** Each read-only companion's primary, by the companion's name (for the clients' rights). */
  primaries: ReadonlyMap<string, string>
  runAs?: RunAs | undefined
  logger: Logger
}

/**
 * The PgBouncers' files, kept current: the socket's configuration holds every target's latest
 * credential; with TCP on, the TCP PgBouncer's configuration, auth file and HBA file hold the
 * same databases and each client's token and rights. Each write replaces all of them atomically
 * (a fresh file, mode 0600, renamed over the old one) in a folder of mode 0700, one write after
 * another. The default target is served under its database's name, every other target under its
 * own name.
 *
 * A failed write is logged (path and error code, never the content) and the next refresh tries
 * again; PgBouncer keeps the files it has.
 */
export class PoolerFiles {
  readonly #options: PoolerFilesOptions
  readonly #credentials = new Map<string, CachedCredential>()
  readonly #warned = new Set<string>()
  #writing: Promise<Written> = Promise.resolve(new Map())

  constructor(options: PoolerFilesOptions) {
    this.#options = options
  }

  get dir(): string {
    return this.#options.settings.dir
  }

  /**
   * Makes the folder (0700, PgBouncer's user's) and writes the first files, with no database.
   * Without TCP, the TCP PgBouncer's files of an earlier run go: they hold clients' tokens.
   */
  async prepare(): Promise<Written> {
    const { dir, tcp } = this.#options.settings
    const runAs = this.#options.runAs
    await mkdir(dir, { recursive: true, mode: DIR_MODE })
    await chmod(dir, DIR_MODE)
    if (runAs) {
      await chown(dir, runAs.uid, runAs.gid)
      await letPostgresUserReach(dirname(dir))
    }
    if (!tcp) {
      for (const name of TCP_FILES) await rm(join(dir, name), { force: true })
    }
    return this.write()
  }

  /** Records `target`'s new credential and rewrites the files; resolves once written. */
  update(target: string, cached: CachedCredential): Promise<Written> {
    this.#credentials.set(target, cached)
    return this.write()
  }

  /** Rewrites every file from the credentials held now (after any write under way). */
  write(): Promise<Written> {
    this.#writing = this.#writing.then(() => this.#writeAll())
    return this.#writing
  }

  /** The `[databases]` entries, default target first, each with its target and version. */
  databases(): { database: PoolerDatabase; target: string; version: string }[] {
    const targets = [...this.#credentials.keys()].sort((a, b) =>
      a === DEFAULT_TARGET ? -1 : b === DEFAULT_TARGET ? 1 : a.localeCompare(b),
    )
    const taken = new Set<string>()
    const out: { database: PoolerDatabase; target: string; version: string }[] = []
    for (const target of targets) {
      const cached = this.#credentials.get(target)
      if (cached === undefined) continue
      const { credential } = cached
      const name = target === DEFAULT_TARGET ? credential.database : target
      const database: PoolerDatabase = {
        name,
        host: credential.host,
        port: credential.port,
        dbname: credential.database,
        user: credential.user,
        password: credential.password,
      }
      let reason: string | undefined
      if (!isPoolerName(name))
        reason = 'its name is not 1–63 letters, digits, _ . or - (or is pgbouncer)'
      else if (taken.has(name)) reason = `another target is served as ${name} already`
      else {
        try {
          databaseLine(database)
        } catch (err) {
          reason = (err as Error).message
        }
      }
      if (reason !== undefined) {
        this.#warnOnce(
          `${target}:${reason}`,
          { target, database: name, reason },
          'left out of PgBouncer',
        )
        continue
      }
      taken.add(name)
      out.push({ database, target, version: cached.version })
    }
    return out
  }

  async #writeAll(): Promise<Written> {
    const { settings, caPath } = this.#options
    const entries = this.databases()
    const written = new Map(
      entries.map((e) => [e.database.name, { target: e.target, version: e.version }]),
    )
    const caText = caPath === undefined ? undefined : await this.#readCa(caPath)
    const files: [string, string][] = [
      ...this.#tcpFiles(entries),
      ...(caText === undefined ? [] : ([[CA_FILE, caText]] as [string, string][])),
      [
        CONFIG_FILE,
        configText(
          entries.map((e) => e.database),
          {
            ...settings,
            sslMode: this.#sslMode(entries.map((e) => this.#credentials.get(e.target))),
            caFile: caText !== undefined,
          },
        ),
      ],
    ]
    try {
      for (const [name, text] of files) await this.#replace(name, text)
      this.#options.logger.debug(
        { dir: settings.dir, databases: [...written.keys()] },
        'pgbouncer files written',
      )
    } catch (err) {
      this.#options.logger.warn(
        { dir: settings.dir, err: describeError(err) },
        'pgbouncer files not written',
      )
    }
    return written
  }

  /** The TCP PgBouncer's files when TCP is on: its databases, each client's token and rights. */
  #tcpFiles(entries: readonly { database: PoolerDatabase; target: string }[]): [string, string][] {
    const { settings, clients, primaries } = this.#options
    if (!settings.tcp) return []
    const access: TcpAccess[] = clients.map((client) => ({
      user: client.name,
      databases:
        client.targets === '*'
          ? 'all'
          : entries
              .filter((e) => mayRead(client, e.target, primaries.get(e.target)))
              .map((e) => e.database.name),
    }))
    return [
      [AUTH_FILE, authText(this.#users())],
      [HBA_FILE, hbaText(access)],
      [
        TCP_CONFIG_FILE,
        tcpConfigText(
          entries.map((e) => e.database.name),
          settings,
        ),
      ],
    ]
  }

  /** The users the TCP PgBouncer knows: each client, with its token as the password. */
  #users(): PoolerUser[] {
    const users = new Map<string, string>()
    for (const client of this.#options.clients) {
      if (!users.has(client.name)) users.set(client.name, client.token)
    }
    const out: PoolerUser[] = []
    for (const [name, password] of users) {
      try {
        authText([{ name, password }])
        out.push({ name, password })
      } catch (err) {
        this.#warnOnce(
          `user:${name}`,
          { user: name, reason: (err as Error).message },
          'user left out of PgBouncer',
        )
      }
    }
    return out
  }

  /** The strictest TLS mode any served credential asks for (PgBouncer 1.18 has one for all). */
  #sslMode(held: readonly (CachedCredential | undefined)[]): SslMode {
    const modes = held.flatMap((c) => (c ? [c.credential.ssl] : []))
    const strictest = modes.reduce<SslMode>(
      (a, b) => (SSL_STRENGTH.indexOf(b) > SSL_STRENGTH.indexOf(a) ? b : a),
      'disable',
    )
    if (new Set(modes).size > 1) {
      this.#warnOnce(
        `ssl:${strictest}`,
        { sslMode: strictest, modes: [...new Set(modes)] },
        'the targets ask for different TLS modes; PgBouncer uses the strictest for every server',
      )
    }
    return strictest
  }

  async #readCa(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8')
    } catch (err) {
      this.#warnOnce(
        `ca:${path}`,
        { path, code: (err as NodeJS.ErrnoException).code },
        "PGSSLROOTCERT could not be read: PgBouncer checks servers against the system's CAs",
      )
      return undefined
    }
  }

  /** Writes `name` as a fresh file (0600, PgBouncer's user's) and renames it over the old one. */
  async #replace(name: string, text: string): Promise<void> {
    const { dir } = this.#options.settings
    const runAs = this.#options.runAs
    const temporary = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
    try {
      // `wx`: never follow or reuse a file someone else put at the temporary name.
      await writeFile(temporary, text, { mode: FILE_MODE, flag: 'wx' })
      // The mode given at creation is narrowed by the umask only, never widened; set it outright.
      await chmod(temporary, FILE_MODE)
      if (runAs) await chown(temporary, runAs.uid, runAs.gid)
      await rename(temporary, join(dir, name))
    } catch (err) {
      await rm(temporary, { force: true }).catch(() => {})
      throw err
    }
  }

  #warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    this.#options.logger.warn(fields, message)
  }
}
