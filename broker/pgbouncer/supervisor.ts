import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { type Clock, systemClock, type TimerHandle } from '../../shared/client/clock.js'
import type { Logger } from '../../shared/process/logger.js'
import { stopWhenGone } from '../../shared/process/watchdog.js'
import { type LogLine, parseLogLine } from './log-lines.js'
import type { RunAs } from './run-as.js'

/** The first restart after PgBouncer died waits this long: a crash is rarely repeated at once. */
export const RESTART_BASE_MS = 500
/** Restarts back off to at most this, so a PgBouncer that cannot start costs little. */
export const RESTART_MAX_MS = 30_000
/** A PgBouncer that ran this long before it died counts as healthy: the backoff starts over. */
export const STABLE_RUN_MS = 60_000
/** After the stop signal PgBouncer exits within milliseconds; after this long it is killed. */
export const STOP_TIMEOUT_MS = 5_000

/**
 * The wait before restart number `failures` (1 for the first after a healthy run): doubling from
 * {@link RESTART_BASE_MS} to {@link RESTART_MAX_MS}, half of it jittered by `random` in [0, 1).
 */
export function restartDelayMs(failures: number, random: number): number {
  const exponential = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.max(0, failures - 1))
  return exponential / 2 + (exponential / 2) * random
}

export interface SupervisorOptions {
  binary: string
  /** PgBouncer's arguments: its configuration file. */
  args: readonly string[]
  /** Its working folder: its own, which it can reach whoever it runs as. */
  cwd: string
  /** Under root, the user it runs as (PgBouncer refuses root). */
  runAs?: RunAs | undefined
  /** SIGTERM before PgBouncer 1.23, SIGQUIT after: its immediate shutdown. */
  stopSignal: NodeJS.Signals
  logger: Logger
  /** Every line it writes, parsed, once logged. */
  onLine?: (line: LogLine) => void
  /** Each time a PgBouncer process starts listening (the first and every restart). */
  onUp?: () => void
  /** Timers for the restart backoff; injected by tests. */
  clock?: Clock
  random?: () => number
}

/**
 * Runs PgBouncer as a child of the broker and keeps it running: restarted with a backoff when
 * it dies, stopped when the broker stops, and never left behind. It runs in a process group of
 * its own (a terminal's Ctrl-C would otherwise reach it as SIGINT, PgBouncer's "wait for every
 * client" shutdown), so the broker stops it itself; a watchdog stops it when the broker dies
 * without stopping it (SIGKILL, a crash). Its output is logged line by line, and `SIGHUP`
 * (a reload) is sent only while it is up, as PgBouncer exits on a SIGHUP before it handles one.
 */
export class PgbouncerSupervisor {
  readonly #options: SupervisorOptions
  readonly #clock: Clock
  readonly #random: () => number
  #child: ChildProcess | undefined
  #up = false
  #stopping = false
  #reloadWanted = false
  #failures = 0
  #restartTimer: TimerHandle | undefined
  #restarts = 0
  /** The first start succeeded: from now on, an end means a restart. */
  #started = false

  constructor(options: SupervisorOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
  }

  /** The running PgBouncer's pid, while there is one. */
  get pid(): number | undefined {
    return this.#up ? this.#child?.pid : undefined
  }

  /** Whether PgBouncer is up and listening. */
  get up(): boolean {
    return this.#up
  }

  /** How often it was started again after it died. */
  get restarts(): number {
    return this.#restarts
  }

  /**
   * Starts PgBouncer and resolves once it listens. Rejects, naming its last error line, when it
   * exits first (a configuration it refuses) or cannot listen on an address it was given (a port
   * in use): the broker then does not start.
   */
  async start(): Promise<void> {
    await this.#launch()
    this.#started = true
  }

  /** Asks PgBouncer to re-read its files: now if it is up, else as soon as it is. */
  reload(): void {
    const child = this.#child
    if (!this.#up || child?.pid === undefined) {
      this.#reloadWanted = true
      return
    }
    this.#reloadWanted = false
    child.kill('SIGHUP')
  }

  /** Stops PgBouncer (its immediate shutdown, then SIGKILL after {@link STOP_TIMEOUT_MS}). */
  async stop(): Promise<void> {
    this.#stopping = true
    if (this.#restartTimer) this.#clock.clearTimer(this.#restartTimer)
    this.#restartTimer = undefined
    const child = this.#child
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill(this.#options.stopSignal)
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  /** Runs one PgBouncer process; resolves once it listens, rejects if it ends before. */
  #launch(): Promise<void> {
    const { binary, args, cwd, runAs, logger, stopSignal } = this.#options
    const child = spawn(binary, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    })
    this.#child = child
    this.#up = false
    const startedAt = this.#clock.now()
    let lastError = ''
    let listenFailure: string | undefined
    let listening = false
    let ended = false
    return new Promise<void>((resolve, reject) => {
      const onLine = (raw: string) => {
        const line = parseLogLine(raw)
        logger[line.level]({ pgbouncer: line.text }, 'pgbouncer')
        if (line.level === 'error' || line.level === 'fatal') lastError = line.text
        if (line.event.kind === 'listen-failed') listenFailure ??= line.text
        if (line.event.kind === 'up' && listenFailure !== undefined && !this.#started) {
          // At start, an address it cannot listen on is a failure, not a warning: stop it.
          reject(new Error(`PgBouncer ${listenFailure}`))
          child.kill(stopSignal)
        } else if (line.event.kind === 'up' && !listening && !ended) {
          listening = true
          this.#up = true
          if (child.pid !== undefined) stopWhenGone({ target: child.pid, signal: stopSignal })
          resolve()
          this.#options.onUp?.()
          if (this.#reloadWanted) this.reload()
        }
        this.#options.onLine?.(line)
      }
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine)
      }
      const end = (how: string) => {
        if (ended) return
        ended = true
        if (child === this.#child) this.#up = false
        // With no other address (the TCP PgBouncer), one it cannot listen on ends it: say which.
        if (!listening)
          reject(
            new Error(
              listenFailure === undefined
                ? `PgBouncer ${how} before it listened${lastError ? `: ${lastError}` : ''}`
                : `PgBouncer ${listenFailure}`,
            ),
          )
        // A PgBouncer that never came up at start fails the start; the broker does not run.
        if (this.#stopping || !this.#started) return
        if (listening && this.#clock.now() - startedAt >= STABLE_RUN_MS) this.#failures = 0
        this.#failures += 1
        const delayMs = restartDelayMs(this.#failures, this.#random())
        logger.warn(
          { pgbouncer: how, restartInMs: Math.round(delayMs) },
          'pgbouncer ended: restarting it',
        )
        this.#restartTimer = this.#clock.setTimer(() => this.#restart(), delayMs)
      }
      // `close`, not `exit`: its last lines (the reason it ended) have been read by then.
      child.on('close', (code, signal) =>
        end(signal ? `was killed (${signal})` : `exited with status ${code}`),
      )
      child.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code
        // Without a pid it never ran; otherwise a signal could not be sent, and it still runs.
        if (child.pid === undefined) end(`could not be run (${code})`)
        else logger.warn({ code }, 'pgbouncer could not be signalled')
      })
    })
  }

  #restart(): void {
    this.#restartTimer = undefined
    if (this.#stopping) return
    this.#restarts += 1
    // A failure is logged and rescheduled where the process ends.
    this.#launch().catch(() => {})
  }
}
