import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'

/** A child that does not exit this long after SIGTERM is killed. */
const STOP_GRACE_MS = 10_000
/** Readiness lines of a compiled server appear within a second or two; this is ample. */
const DEFAULT_READY_TIMEOUT_MS = 30_000

export interface Child {
  readonly pid: number
  /** Everything written to stdout and stderr so far. */
  output(): string
  /** Resolves with the first match of `pattern` in the output (rejects on timeout or exit). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Runs a command as a child process with only the given environment (plus PATH and HOME), so
 * nothing from the bench's own environment (a DATABRICKS_HOST, say) leaks into what is measured.
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string; detached?: boolean } = {},
): Child & { process: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached,
  })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  const pid = child.pid
  running.add(child)
  let out = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8')
    for (const listener of listeners) listener()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child)
    for (const listener of listeners) listener()
    return code as number | null
  })
  const alive = () => child.exitCode === null && child.signalCode === null

  return {
    pid,
    process: child,
    exited,
    output: () => out,
    waitFor(pattern, timeoutMs = DEFAULT_READY_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(
            new Error(`${command} ${args.join(' ')}: no ${pattern} in ${timeoutMs} ms:\n${out}`),
          )
        }, timeoutMs)
        const check = () => {
          const match = out.match(pattern)
          if (match) {
            clearTimeout(timer)
            listeners.delete(check)
            resolve(match)
          } else if (!alive()) {
            clearTimeout(timer)
            listeners.delete(check)
            reject(new Error(`${command} ${args.join(' ')} exited before ${pattern}:\n${out}`))
          }
        }
        listeners.add(check)
        check()
      })
    },
    async stop() {
      if (!alive()) {
        await exited
        return
      }
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    },
  }
}

/**
 * Runs a compiled JavaScript entry with this Node binary, as `node dist/…/main.js` would. With
 * `BENCH_CPU_PROF_DIR` set, every server writes a V8 CPU profile there when it stops.
 */
export function spawnNode(entry: string, env: Record<string, string>, cwd?: string) {
  const profileDir = process.env.BENCH_CPU_PROF_DIR
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
  return spawnChild(process.execPath, [...profile, entry], env, { cwd })
}
