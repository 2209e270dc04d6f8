import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FILE_ENV, RUN_ENV, readRegistry } from './process-registry.js'
import {
  isRunning,
  type ListeningSocket,
  listeningSockets,
  listProcesses,
  type ProcessInfo,
  processTree,
  readProcess,
  startEnvironment,
  USER_HZ,
  uptimeTicks,
} from './process-tree.js'

/** A process of the test run's that still runs, and how it was recognised as the run's. */
export interface Leftover {
  process: ProcessInfo
  /** `started by a test helper`, `a descendant of pid 12 (…)`, `Postgres cluster /tmp/…`. */
  reason: string
  /** The test file behind it, when the registry knows. */
  file?: string
  /** What it still listens on. */
  sockets: ListeningSocket[]
}

/**
 * Every process of the run in `dir` that still runs: those the test helpers recorded, with all
 * their descendants (by parent, process group and session, so orphans count); the processes of
 * every recorded Postgres cluster; and every process started with this run's marker in its
 * environment, whoever its parent is now. The calling process and its ancestors never count.
 */
export function findLeftovers(dir: string, all: ProcessInfo[] = listProcesses()): Leftover[] {
  const { spawned, clusters } = readRegistry(dir)
  const live = all.filter((p) => p.state !== 'Z')
  const mine = ancestry(process.pid)
  const found = new Map<number, Omit<Leftover, 'sockets'>>()
  const add = (p: ProcessInfo, reason: string, file?: string) => {
    if (!mine.has(p.pid) && !found.has(p.pid)) found.set(p.pid, { process: p, reason, file })
  }

  for (const record of spawned) {
    // A recorded process that is gone with no exit on record (its test worker died first) gives
    // no bound on when its group was its own: then only its marked members and children count.
    const endTicks = record.endTicks ?? (isRunning(record) ? undefined : record.startTicks)
    for (const p of processTree([{ ...record, endTicks }], live)) {
      const reason =
        p.pid === record.pid && p.startTicks === record.startTicks
          ? 'started by a test helper'
          : `a descendant of pid ${record.pid} (${record.command})`
      add(p, reason, record.file)
    }
  }
  for (const cluster of clusters) {
    const postmaster = postmasterOf(cluster.dataDir)
    for (const p of live) {
      const isPostmaster =
        p.pid === postmaster?.pid && Math.abs(startedAtS(p) - postmaster.startedAtS) <= 2
      if (isPostmaster || p.command.includes(cluster.dataDir)) {
        add(p, `Postgres cluster ${cluster.dataDir}`, cluster.file)
      }
    }
  }
  for (const p of live) {
    const env = startEnvironment(p.pid)
    if (env?.get(RUN_ENV) === dir) add(p, "started with this run's environment", env.get(FILE_ENV))
  }
  for (const p of processTree(
    [...found.values()].map((f) => f.process),
    live,
  )) {
    const parent = found.get(p.ppid)
    add(p, `a descendant of pid ${p.ppid}`, parent?.file)
  }
  return [...found.values()]
    .sort((a, b) => a.process.pid - b.process.pid)
    .map((f) => ({ ...f, sockets: listeningSockets(f.process.pid) }))
}

/** One line per leftover, naming its command line, where it came from and what it listens on. */
export function leftoverReport(leftovers: readonly Leftover[]): string {
  const lines = leftovers.map(({ process: p, reason, file, sockets }) => {
    const from = file ? `, from ${file}` : ''
    const listening =
      sockets.length > 0
        ? `; listening on ${sockets.map((s) => `${s.host}:${s.port}`).join(', ')}`
        : ''
    return `  pid ${p.pid}: ${p.command} (${reason}${from})${listening}`
  })
  const count = leftovers.length === 1 ? '1 process' : `${leftovers.length} processes`
  return [`The test run left ${count} running:`, ...lines].join('\n')
}

/**
 * The postmaster a cluster's postmaster.pid names: its pid and start time (epoch seconds, the
 * file's third line). The file outlives a killed postmaster, and its pid may belong to someone
 * else by now; the start time tells them apart.
 */
function postmasterOf(dataDir: string): { pid: number; startedAtS: number } | undefined {
  try {
    const [pid, , started] = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')
    return pid && started ? { pid: Number(pid), startedAtS: Number(started) } : undefined
  } catch {
    return undefined
  }
}

/** When `p` started, in epoch seconds. */
function startedAtS(p: ProcessInfo): number {
  const bootS = Date.now() / 1000 - uptimeTicks() / USER_HZ
  return bootS + p.startTicks / USER_HZ
}

/** `pid` and every process above it, up to init. */
function ancestry(pid: number): Set<number> {
  const chain = new Set<number>()
  for (let p = readProcess(pid); p && !chain.has(p.pid); p = readProcess(p.ppid)) {
    chain.add(p.pid)
    if (p.ppid === 0) break
  }
  return chain
}
