import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { FILE_ENV, RUN_ENV, recordExit, recordSpawn, runDir } from './process-registry.js'
import {
  killAll,
  type ProcessInfo,
  procAvailable,
  processTree,
  readProcess,
  type TreeRoot,
  uptimeTicks,
  waitUntilGone,
} from './process-tree.js'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * tsx's loader, for `node --import`: TypeScript runs in the one process that was spawned. The
 * `tsx` command instead starts the real `node` as its child, and a SIGKILL of the command
 * (which it cannot relay) left that child running on its port.
 */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

/** How long to wait for a SIGKILLed tree to be gone: the kernel needs milliseconds. */
const TREE_GONE_TIMEOUT_MS = 5_000
/** How long `waitFor` waits for its text by default: a server under tsx prints it within seconds. */
const DEFAULT_WAIT_MS = 20_000

export interface Spawned {
  child: ChildProcess
  /** The process's pid; it leads its own process group. */
  pid: number
  /** Everything written to stdout and stderr so far. */
  output(): string
  /**
   * Resolves with the first match once the output contains `text` (rejects after `timeoutMs`,
   * or once the process exits without it).
   */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  /**
   * Sends `signal` to the process (SIGKILL: to its whole process group), waits for it to exit,
   * then SIGKILLs whatever of its tree is left (after `graceMs`, SIGKILL the group even if it has
   * not exited). Resolves with the exit code once no descendant runs.
   */
  kill(signal?: NodeJS.Signals, options?: { graceMs?: number }): Promise<number | null>
}

/**
 * The roots of the process trees this process started and has not swept yet. A root stays here
 * after it exits on its own: what it started may outlive it, and the exit hook still sweeps it.
 */
const roots = new Map<number, TreeRoot>()

/** SIGKILLs a root's process group and every descendant, now (safe to call from `exit`). */
function sweep(root: TreeRoot): ProcessInfo[] {
  const tree = procAvailable ? processTree([root]) : []
  // Signalling the group reaches a member forked a moment ago, too. Once the group is empty its
  // number may be reused, so where /proc can tell, only a group with members is signalled.
  const groupLives = !procAvailable || tree.some((p) => p.pgid === root.pid)
  if (groupLives) {
    try {
      process.kill(-root.pid, 'SIGKILL')
    } catch {
      // The group emptied in between.
    }
  }
  killAll(tree)
  return tree
}

let hooked = false
/**
 * On this process's exit, and on a signal that would end it, sweep every tree it started. The
 * trees run in process groups of their own, so a terminal's Ctrl-C no longer reaches them and a
 * signal to this process must be passed on. A signal handler is added only while none other is
 * there, and then lets the signal do what it would have done (end this process).
 */
function hookExit(): void {
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const root of roots.values()) sweep(root)
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(signal) > 0) continue
    process.once(signal, () => {
      for (const root of roots.values()) sweep(root)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

/** Runs a TypeScript entry of this repository as its own, single process, as the npm scripts do. */
export function spawnTs(
  entry: string,
  args: string[],
  env: Record<string, string | undefined>,
): Spawned {
  return spawnProcess(process.execPath, ['--import', TSX_LOADER, entry, ...args], env)
}

/** Runs compiled JavaScript (e.g. `dist/cli/commands/serve.js`) with this Node, as production does. */
export function spawnNode(
  entry: string,
  args: string[],
  env: Record<string, string | undefined>,
): Spawned {
  return spawnProcess(process.execPath, [entry, ...args], env)
}

/**
 * Runs a command with only the given environment (plus PATH, HOME and this test run's markers),
 * in a process group of its own, recorded for the suite's leftover check. Its tree is swept
 * by `kill()`, and at the latest when this process exits.
 */
export function spawnProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; waitMs?: number } = {},
): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      [RUN_ENV]: runDir(),
      [FILE_ENV]: process.env[FILE_ENV],
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  const pid = child.pid
  const root: TreeRoot & { command: string } = {
    pid,
    startTicks: readProcess(pid)?.startTicks ?? 0,
    command: [command, ...args].join(' '),
  }
  roots.set(pid, root)
  hookExit()
  if (procAvailable) recordSpawn(root)

  let out = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8')
    for (const l of listeners) l()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = once(child, 'exit').then(([code]) => {
    root.endTicks = uptimeTicks()
    if (procAvailable) recordExit({ pid, startTicks: root.startTicks, endTicks: root.endTicks })
    return code as number | null
  })
  const alive = () => child.exitCode === null && child.signalCode === null

  return {
    child,
    pid,
    output: () => out,
    exited,
    waitFor(text, timeoutMs = options.waitMs ?? DEFAULT_WAIT_MS) {
      const pattern = typeof text === 'string' ? new RegExp(escapeRegExp(text)) : text
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern)
          if (match) {
            done()
            resolve(match)
          }
        }
        const done = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`timed out waiting for ${String(text)}; output so far:\n${out}`))
        }, timeoutMs)
        listeners.add(check)
        check()
        exited.then(() => {
          if (!listeners.has(check)) return
          check()
          if (!listeners.has(check)) return
          done()
          reject(new Error(`process exited before ${String(text)}; output:\n${out}`))
        })
      })
    },
    async kill(signal = 'SIGTERM', { graceMs } = {}) {
      // Taken before the signal, while every descendant still has its parent.
      const before = procAvailable ? processTree([root]) : []
      if (alive()) {
        if (signal === 'SIGKILL') sweep(root)
        else child.kill(signal)
      }
      const timer = graceMs === undefined ? undefined : setTimeout(() => sweep(root), graceMs)
      const code = await exited
      clearTimeout(timer)
      // Orphans that left the group (a new session) are found only in the earlier snapshot.
      killAll(before)
      const left = [...before, ...sweep(root)]
      await waitUntilGone(left, TREE_GONE_TIMEOUT_MS)
      roots.delete(pid)
      return code
    },
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
