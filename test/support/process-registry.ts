import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ProcessInfo } from './process-tree.js'

/**
 * The environment variable that names this test run's folder. A test worker sets it in its own
 * `process.env` (test/support/mark-processes.ts), so every process a test starts inherits it,
 * and so does everything those start: the global teardown finds them by it in
 * /proc/<pid>/environ, whatever became of their parents. The workers themselves were started
 * without it, so they do not count.
 */
export const RUN_ENV = 'LEAK_CHECK_RUN'
/** Inherited the same way: the test file (relative to the repository) that started a process. */
export const FILE_ENV = 'LEAK_CHECK_FILE'

/** A process a test helper started, as written to the run's registry. */
export interface SpawnRecord {
  pid: number
  startTicks: number
  command: string
  /** The test file that started it, when known. */
  file?: string
}

/** An embedded Postgres cluster a test or the global setup started. */
export interface ClusterRecord {
  dataDir: string
  file?: string
}

const SPAWNED = 'spawned.jsonl'
const EXITED = 'exited.jsonl'
const CLUSTERS = 'clusters.jsonl'

/** This run's folder: from the environment in a test worker, undefined outside a test run. */
export function runDir(): string | undefined {
  return process.env[RUN_ENV] || undefined
}

/** The test file running in this worker, if any. */
function currentFile(): string | undefined {
  return process.env[FILE_ENV] || undefined
}

/** Notes a started process in the run's registry (nothing outside a test run). */
export function recordSpawn(
  process: Pick<ProcessInfo, 'pid' | 'startTicks' | 'command'>,
  dir = runDir(),
): void {
  if (dir === undefined) return
  const record: SpawnRecord = { ...process, file: currentFile() }
  // One short line with O_APPEND is written whole, even from several workers at once.
  appendFileSync(join(dir, SPAWNED), `${JSON.stringify(record)}\n`)
}

/** Notes when a recorded process was seen to exit (its group may live on without it). */
export function recordExit(
  process: Pick<SpawnRecord, 'pid' | 'startTicks'> & { endTicks: number },
  dir = runDir(),
): void {
  if (dir === undefined) return
  appendFileSync(join(dir, EXITED), `${JSON.stringify(process)}\n`)
}

/** Notes a started Postgres cluster by its data folder (nothing outside a test run). */
export function recordCluster(dataDir: string, dir = runDir()): void {
  if (dir === undefined) return
  const record: ClusterRecord = { dataDir, file: currentFile() }
  appendFileSync(join(dir, CLUSTERS), `${JSON.stringify(record)}\n`)
}

/**
 * Everything the run's registry holds; a spawned process that was seen to exit carries its
 * `endTicks`.
 */
export function readRegistry(dir: string): {
  spawned: Array<SpawnRecord & { endTicks?: number }>
  clusters: ClusterRecord[]
} {
  const ends = new Map(
    readLines<SpawnRecord & { endTicks: number }>(join(dir, EXITED)).map((e) => [
      `${e.pid}@${e.startTicks}`,
      e.endTicks,
    ]),
  )
  return {
    spawned: readLines<SpawnRecord>(join(dir, SPAWNED)).map((s) => ({
      ...s,
      endTicks: ends.get(`${s.pid}@${s.startTicks}`),
    })),
    clusters: readLines<ClusterRecord>(join(dir, CLUSTERS)),
  }
}

function readLines<T>(file: string): T[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T)
}
