import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { waitFor } from './wait-for.js'

/**
 * What Linux says about one process in /proc. The suite reads /proc (not `ps`) because it needs
 * what `ps` cannot give portably: the start time that tells a process from a later one with the
 * same pid, and the environment a process was started with.
 */
export interface ProcessInfo {
  pid: number
  ppid: number
  /** Process group: a `detached` spawn leads its own, and its descendants stay in it. */
  pgid: number
  /** Session: survives reparenting to init, unless a descendant calls setsid() itself. */
  sid: number
  /** `R`, `S`, `Z` (zombie: dead, not yet reaped)… */
  state: string
  /** Clock ticks after boot at which it started: with the pid, the process's identity. */
  startTicks: number
  /** The command line, arguments joined by spaces (the name in brackets for a kernel thread). */
  command: string
}

/** Whether this system has a /proc the suite can read (Linux). */
export const procAvailable: boolean = (() => {
  try {
    readFileSync('/proc/self/stat', 'utf8')
    return true
  } catch {
    return false
  }
})()

/** One process's entry, or undefined once it is gone (or was never there). */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The name in parentheses may itself hold spaces and parentheses; the fields follow the last ')'.
  const close = stat.lastIndexOf(')')
  const name = stat.slice(stat.indexOf('(') + 1, close)
  const fields = stat.slice(close + 2).split(' ')
  let command = ''
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ')
  } catch {
    // Gone between the two reads: the stat line is still a true record of it.
  }
  return {
    pid,
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    state: fields[0] ?? '?',
    startTicks: Number(fields[19]),
    command: command || `[${name}]`,
  }
}

/** Every process on the machine right now. */
export function listProcesses(): ProcessInfo[] {
  const all: ProcessInfo[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const info = readProcess(Number(entry))
    if (info) all.push(info)
  }
  return all
}

/** A process to look below: its identity, and when it ended if it has (see `processTree`). */
export interface TreeRoot {
  pid: number
  startTicks: number
  /** Clock ticks after boot at which it was seen to exit; undefined while it runs. */
  endTicks?: number
}

/**
 * /proc counts time in USER_HZ ticks, which Linux fixes at 100 a second for user space whatever
 * the kernel's own tick rate.
 */
export const USER_HZ = 100

/** Now, in the ticks after boot that `startTicks` counts. */
export function uptimeTicks(): number {
  try {
    return Math.ceil(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * USER_HZ)
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/** A process that still runs: not gone, not a zombie, and not a later process with its pid. */
export function isRunning(process: Pick<ProcessInfo, 'pid' | 'startTicks'>): boolean {
  const now = readProcess(process.pid)
  return now !== undefined && now.state !== 'Z' && now.startTicks === process.startTicks
}

/**
 * Every running process below `roots`: their children by parent pid, transitively, and every
 * member of a root's process group or session (which keep an orphan that init adopted). The
 * roots themselves are included while they run.
 *
 * Pids are reused (pid_max may be as low as 32768): a group's number is free again once its
 * last member is gone, and a stranger may then lead a group of that number. So a member counts
 * only if it started within the root's lifetime: no earlier than the root, and no later than
 * its `endTicks` (a child started after the root died is still found through its parent).
 */
export function processTree(
  roots: ReadonlyArray<TreeRoot>,
  all: readonly ProcessInfo[] = listProcesses(),
): ProcessInfo[] {
  const found = new Map<number, ProcessInfo>()
  const live = all.filter((p) => p.state !== 'Z')
  for (const root of roots) {
    const end = root.endTicks ?? Number.POSITIVE_INFINITY
    for (const p of live) {
      const same = p.pid === root.pid && p.startTicks === root.startTicks
      const member = p.pgid === root.pid || p.sid === root.pid
      if (same || (member && p.startTicks >= root.startTicks && p.startTicks <= end)) {
        found.set(p.pid, p)
      }
    }
  }
  for (let grew = true; grew; ) {
    grew = false
    for (const p of live) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.set(p.pid, p)
        grew = true
      }
    }
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid)
}

/**
 * The environment `pid` was started with (what it inherited, not its later changes), or
 * undefined when it cannot be read.
 */
export function startEnvironment(pid: number): Map<string, string> | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/environ`, 'utf8')
  } catch {
    return undefined
  }
  const env = new Map<string, string>()
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  return env
}

/** A TCP socket in LISTEN state: the address as the kernel wrote it, decoded. */
export interface ListeningSocket {
  host: string
  port: number
}

const TCP_LISTEN = '0A'

/** The TCP ports `pid` listens on (IPv4 and IPv6), from its open sockets and /proc/net/tcp(6). */
export function listeningSockets(pid: number): ListeningSocket[] {
  const inodes = new Set<string>()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`)
        } catch {
          return ''
        }
      })()
      const match = /^socket:\[(\d+)\]$/.exec(target)
      if (match?.[1]) inodes.add(match[1])
    }
  } catch {
    return []
  }
  const sockets: ListeningSocket[] = []
  for (const [table, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const cols = line.trim().split(/\s+/)
      const [local, state, inode] = [cols[1], cols[3], cols[9]]
      if (!local || state !== TCP_LISTEN || !inode || !inodes.has(inode)) continue
      const [hex, portHex] = local.split(':')
      sockets.push({ host: decodeHost(hex ?? '', v6), port: Number.parseInt(portHex ?? '0', 16) })
    }
  }
  return sockets
}

/** The kernel writes addresses as host-order 32-bit words in hex; this reads them back. */
function decodeHost(hex: string, v6: boolean): string {
  const words = hex.match(/.{8}/g) ?? []
  const bytes = words.flatMap((w) =>
    (w.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)),
  )
  if (!v6) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < bytes.length; i += 2) {
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  }
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

/** SIGKILLs each process that still runs (checked by start time, so a reused pid is spared). */
export function killAll(processes: ReadonlyArray<Pick<ProcessInfo, 'pid' | 'startTicks'>>): void {
  for (const p of processes) {
    if (!isRunning(p)) continue
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {
      // Exited in between, or not ours to kill: the leak report still names it.
    }
  }
}

/** How often `waitUntilGone` looks again: processes that are not our children cannot be awaited. */
const GONE_POLL_MS = 20

/** Resolves once none of `processes` runs; rejects after `timeoutMs`, naming those left. */
export async function waitUntilGone(
  processes: ReadonlyArray<Pick<ProcessInfo, 'pid' | 'startTicks' | 'command'>>,
  timeoutMs: number,
): Promise<void> {
  let left: typeof processes = []
  const gone = () => {
    left = processes.filter(isRunning)
    return left.length === 0
  }
  await waitFor(gone, {
    what: 'the processes are gone',
    timeoutMs,
    everyMs: GONE_POLL_MS,
  }).catch(() => {
    throw new Error(`still running after ${timeoutMs} ms: ${left.map(describeProcess).join('; ')}`)
  })
}

/** `pid 123: node broker/main.ts`, for messages. */
export function describeProcess(process: Pick<ProcessInfo, 'pid' | 'command'>): string {
  return `pid ${process.pid}: ${process.command}`
}
