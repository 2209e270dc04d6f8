import type { ChildProcess } from 'node:child_process'
import { spawnProcess } from '../test/support/process.js'

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
  /**
   * SIGTERM, then SIGKILL of its whole process group after a grace period; resolves once it and
   * every process it started have exited.
   */
  stop(): Promise<void>
}

/**
 * Runs a command as a child process with only the given environment (plus PATH and HOME), so
 * nothing from the bench's own environment (a DATABRICKS_HOST, say) leaks into what is measured.
 * It leads a process group of its own (`-pid` signals all of it, as a terminal's Ctrl-C would),
 * and nothing it started outlives the bench: the test kit's process handling sweeps its tree on
 * `stop()`, when the bench exits, and when the bench is interrupted.
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string } = {},
): Child & { process: ChildProcess; exited: Promise<number | null> } {
  const child = spawnProcess(command, args, env, {
    cwd: options.cwd ?? process.cwd(),
    waitMs: DEFAULT_READY_TIMEOUT_MS,
  })
  return {
    pid: child.pid,
    process: child.child,
    exited: child.exited,
    output: child.output,
    waitFor: (pattern, timeoutMs) => child.waitFor(pattern, timeoutMs),
    async stop() {
      await child.kill('SIGTERM', { graceMs: STOP_GRACE_MS })
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
  // BENCH_NODE_FLAGS: extra Node/V8 flags for every server, for experiments (e.g. heap sizes).
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)
  return spawnChild(process.execPath, [...flags, ...profile, entry], env, { cwd })
}
