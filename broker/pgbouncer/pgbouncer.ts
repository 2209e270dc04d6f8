import { join } from 'node:path'
import type { Registry } from 'prom-client'
import { SYSTEM_ROOT_CERT } from '../../shared/client/tls.js'
import { envValue } from '../../shared/process/env.js'
import type { Logger } from '../../shared/process/logger.js'
import type { ClientConfig, CompanionConfig, TargetConfig } from '../config.js'
import { type HeldSource, heldCredential } from '../held-credential.js'
import type { ServedTarget } from '../served-target.js'
import { AdminConsole, type PoolerFigures } from './admin-console.js'
import { findPgbouncer, type PgbouncerVersion } from './binary.js'
import { CONFIG_FILE, LOOPBACK, TCP_CONFIG_FILE } from './config-file.js'
import { RefusedLogins } from './log-lines.js'
import { type PoolerCounters, registerPoolerMetrics } from './metrics.js'
import { PoolerFiles, type Written } from './pooler-files.js'
import { pgbouncerRunAs } from './run-as.js'
import type { PgbouncerConfig } from './settings.js'
import { PgbouncerSupervisor } from './supervisor.js'

export interface PgbouncerOptions {
  config: PgbouncerConfig
  targets: readonly TargetConfig[]
  companions: readonly CompanionConfig[]
  /** The broker's clients: each may use TCP with its name and token. */
  clients: readonly ClientConfig[]
  logger: Logger
  /** The broker's metrics registry, which the pooler's metrics join. */
  registry: Registry
}

/** What the status page shows of the pooler; no secret. */
export interface PgbouncerStatus {
  version: string
  up: boolean
  pid: number | undefined
  socket: string
  tcp: string | undefined
  poolMode: string
  restarts: number
  serverConnections: number
  refusedLogins: number
  /** The last figures read from its admin console; reading them again starts in the background. */
  figures: PoolerFigures | undefined
}

/**
 * The local PgBouncer: any Postgres client on this machine connects to its socket (or loopback
 * TCP) and is pooled onto server connections logged in with the broker's credentials.
 *
 * The socket takes any user name without a password, and TCP wants a client's name and token;
 * PgBouncer's `auth_type` is one for all its listeners, so with TCP on a second PgBouncer listens
 * there (`auth_type = hba`) and relays each client, once checked, to the first one's socket.
 * PgBouncer 1.18 offers no way to do both in one process: under `auth_type = hba` a `trust` line
 * still refuses a user name not in the auth file, and `auth_user`/`auth_query` (its way to admit
 * unknown names) needs the Lakebase token in the auth file, runs a server query per login, and
 * crashes 1.18 when the auth user is the database's own `user=`, the only role the broker has a
 * password for (`put_in_order: found existing elem`). Relaying keeps the Lakebase token, the
 * server pools, the refused-login watch and the figures in the socket's PgBouncer alone; TCP
 * clients pay one local hop.
 *
 * Made in two steps: {@link preparePgbouncer} finds the program and who runs it, before the
 * broker listens (a missing PgBouncer is a configuration error: exit 2); {@link start} writes the
 * files and starts it. Each refresh then writes the new credential and reloads PgBouncer
 * (`SIGHUP`), which keeps its open server connections. A server login refused with 28P01 in
 * PgBouncer's log is reported to the target like a client's refusal: against the version
 * PgBouncer had loaded, so a refusal of a credential already replaced mints nothing.
 */
export class Pgbouncer {
  readonly version: PgbouncerVersion
  /** The socket's folder: libpq's `host`. */
  readonly socketDir: string
  readonly port: number
  readonly #options: PgbouncerOptions
  readonly #files: PoolerFiles
  readonly #supervisor: PgbouncerSupervisor
  /** The TCP PgBouncer, when TCP is on. */
  readonly #tcp: PgbouncerSupervisor | undefined
  readonly #admin: AdminConsole
  readonly #counters: PoolerCounters
  readonly #refusals = new RefusedLogins<Written>()
  #served: ReadonlyMap<string, ServedTarget> = new Map()
  /** What the files held at the last completed write, the last SIGHUP, and PgBouncer's load. */
  #written: Written = new Map()
  #signalled: Written = new Map()
  #loaded: Written = new Map()
  #serverConnections = 0
  #refusedLogins = 0

  constructor(
    options: PgbouncerOptions,
    binary: { path: string; version: PgbouncerVersion },
    runAs: Awaited<ReturnType<typeof pgbouncerRunAs>>,
  ) {
    const { config, logger } = options
    const { binary: _path, ...settings } = config
    this.#options = options
    this.version = binary.version
    this.socketDir = config.dir
    this.port = config.port
    const ca = options.targets
      .map((t) => envValue(t.env, 'PGSSLROOTCERT'))
      .find((path) => path !== undefined && path !== SYSTEM_ROOT_CERT)
    this.#files = new PoolerFiles({
      settings: { ...settings, preparedStatements: binary.version.preparedStatements },
      caPath: ca,
      clients: options.clients,
      primaries: new Map(options.companions.map((c) => [c.name, c.primary])),
      runAs,
      logger,
    })
    this.#supervisor = new PgbouncerSupervisor({
      binary: binary.path,
      args: [join(config.dir, CONFIG_FILE)],
      cwd: config.dir,
      runAs,
      stopSignal: binary.version.stopSignal,
      logger,
      onUp: () => {
        this.#loaded = this.#written
      },
      onLine: (line) => {
        const { event } = line
        if (event.kind === 'reloading') this.#loaded = this.#signalled
        if (event.kind === 'server-connection') {
          this.#serverConnections += 1
          this.#counters.serverConnections.inc({ database: event.database })
        }
        const refused = this.#refusals.feed(event, this.#loaded)
        if (refused !== undefined)
          this.#reportRefused(refused.database, refused.startedWith ?? this.#loaded)
      },
    })
    // Its lines are logged only: its server connections are relays to the socket, not logins.
    this.#tcp = config.tcp
      ? new PgbouncerSupervisor({
          binary: binary.path,
          args: [join(config.dir, TCP_CONFIG_FILE)],
          cwd: config.dir,
          runAs,
          stopSignal: binary.version.stopSignal,
          logger: logger.child({ pgbouncerListener: 'tcp' }),
        })
      : undefined
    this.#admin = new AdminConsole(config.dir, config.port)
    this.#counters = registerPoolerMetrics(options.registry, {
      up: () => this.up,
      restarts: () => this.restarts,
      figures: () => this.#admin.figures(),
    })
    if (config.poolMode === 'transaction' && !binary.version.preparedStatements) {
      logger.warn(
        { version: binary.version.text },
        'PgBouncer before 1.21 cannot keep protocol-level prepared statements in transaction mode: clients must not use them (README: "Any client, one local endpoint")',
      )
    }
  }

  /** The socket's PgBouncer's pid, while it runs. */
  get pid(): number | undefined {
    return this.#supervisor.pid
  }

  /** The TCP PgBouncer's pid, while it runs (TCP on). */
  get tcpPid(): number | undefined {
    return this.#tcp?.pid
  }

  /** Whether every PgBouncer it runs is up and listening. */
  get up(): boolean {
    return this.#supervisor.up && (this.#tcp?.up ?? true)
  }

  /** How often a PgBouncer was started again after it died, both counted. */
  get restarts(): number {
    return this.#supervisor.restarts + (this.#tcp?.restarts ?? 0)
  }

  /** Writes the files and starts PgBouncer (the socket's, then TCP's); resolves once they listen. */
  async start(served: ReadonlyMap<string, ServedTarget>): Promise<void> {
    this.#served = served
    this.#written = await this.#files.prepare()
    await this.#supervisor.start()
    await this.#tcp?.start()
    const { config, logger } = this.#options
    logger.info(
      {
        version: this.version.text,
        pgbouncerPid: this.#supervisor.pid,
        tcpPgbouncerPid: this.#tcp?.pid,
        socket: join(config.dir, `.s.PGSQL.${config.port}`),
        tcp: config.tcp ? `${LOOPBACK}:${config.port}` : undefined,
        poolMode: config.poolMode,
      },
      'pgbouncer listening',
    )
  }

  /**
   * Writes `target`'s credential as `source` holds it (see {@link heldCredential}) and reloads
   * PgBouncer; called after each successful refresh, as the `.pgpass` file is. Never rejects.
   */
  async updateFrom(target: string, source: HeldSource | undefined): Promise<void> {
    const held = await heldCredential(source)
    if (held === undefined) return
    const written = await this.#files.update(target, held)
    this.#written = written
    this.#signalled = written
    this.#supervisor.reload()
    this.#tcp?.reload()
  }

  /** What the status page shows; starts reading fresh figures for the next look. */
  status(): PgbouncerStatus {
    const { config } = this.#options
    this.#admin.figures().catch(() => {
      // Not answering now (restarting): the page shows the last figures read.
    })
    return {
      version: this.version.text,
      up: this.up,
      pid: this.#supervisor.pid,
      socket: join(config.dir, `.s.PGSQL.${config.port}`),
      tcp: config.tcp ? `${LOOPBACK}:${config.port}` : undefined,
      poolMode: config.poolMode,
      restarts: this.restarts,
      serverConnections: this.#serverConnections,
      refusedLogins: this.#refusedLogins,
      figures: this.#admin.last,
    }
  }

  /** `SHOW POOLS` and `SHOW STATS`, at most a second old. */
  figures(): Promise<PoolerFigures> {
    return this.#admin.figures()
  }

  /** Stops PgBouncer (TCP's, then the socket's) and closes the admin connection. */
  async close(): Promise<void> {
    await this.#admin.close().catch(() => {})
    await this.#tcp?.stop()
    await this.#supervisor.stop()
  }

  /**
   * Reports a refused server login against the credential loaded when its connection began: a
   * login that started before a reload and lost the race with a rotation names the credential
   * already replaced, and mints nothing. (One that began before and logged in after with the new
   * password would be reported as the old one; the next attempt, a second later, reports it right.)
   */
  #reportRefused(database: string, startedWith: Written): void {
    this.#refusedLogins += 1
    this.#counters.refusedLogins.inc({ database })
    const loaded = startedWith.get(database)
    const served = loaded === undefined ? undefined : this.#served.get(loaded.target)
    this.#options.logger.warn(
      { database, target: loaded?.target },
      'pgbouncer: Postgres refused the server login; reporting the credential refused',
    )
    if (loaded === undefined || served === undefined) return
    served.refused(loaded.version).catch(() => {
      // No credential now: the cache records the failure and retries; the next refresh writes.
    })
  }
}

/**
 * Finds PgBouncer and who runs it, before the broker listens.
 *
 * @throws ConfigError (exit 2) when PgBouncer is not installed, naming the package.
 */
export async function preparePgbouncer(options: PgbouncerOptions): Promise<Pgbouncer> {
  const binary = await findPgbouncer(options.config.binary, process.env.PATH)
  const runAs = await pgbouncerRunAs()
  return new Pgbouncer(options, binary, runAs)
}
