import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../test/support/free-port.js'
import { spawnChild } from '../child-process.js'
import type { FigureReport } from '../report.js'
import { round } from '../stats.js'
import type { FigureContext } from './context.js'

/** `/api/health` is polled this often while the stack starts. */
const POLL_EVERY_MS = 20
/** A start that has not answered by then has failed outright. */
const GIVE_UP_MS = 60_000
/** Ctrl-C must stop everything within this; after it the process group is killed. */
const STOP_GRACE_MS = 15_000

export interface StartTime {
  /** A fresh state folder: the embedded Postgres is initialised first (a new clone's first run). */
  firstS: number
  /** The same folder again: the data already exists. */
  secondS: number
}

async function firstOk(url: string, deadline: number): Promise<void> {
  for (;;) {
    const ok = await fetch(url)
      .then(async (response) => {
        await response.arrayBuffer()
        return response.status === 200
      })
      .catch(() => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error(`no 200 from ${url} within ${GIVE_UP_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS))
  }
}

/** One `npm start`, from spawn to the first 200 of `/api/health`, then Ctrl-C. */
async function startOnce(root: string, env: Record<string, string>, port: number) {
  const started = performance.now()
  // It leads its own process group, so that Ctrl-C reaches npm, tsx and Postgres as from a terminal.
  const child = spawnChild('npm', ['start'], env, { cwd: root })
  try {
    await firstOk(`http://127.0.0.1:${port}/api/health`, Date.now() + GIVE_UP_MS)
    return (performance.now() - started) / 1000
  } catch (err) {
    throw new Error(`${(err as Error).message}; npm start said:\n${child.output()}`)
  } finally {
    process.kill(-child.pid, 'SIGINT')
    const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), STOP_GRACE_MS)
    await child.exited
    clearTimeout(timer)
  }
}

/**
 * `npm start` as a user runs it after `npm ci`, with nothing configured: embedded Postgres,
 * broker, migrations and functions, in a fresh state folder and with free ports.
 */
async function measureStartTime(root: string): Promise<StartTime> {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-bench-start-'))
  const port = await freePort()
  const env = {
    LAKEBASE_STATE_DIR: join(dir, '.lakebase'),
    LAKEBASE_EMBEDDED_PORT: String(await freePort()),
    BROKER_PORT: String(await freePort()),
    PORT: String(port),
    XDG_CONFIG_HOME: join(dir, 'config'),
  }
  try {
    const firstS = await startOnce(root, env, port)
    const secondS = await startOnce(root, env, port)
    return { firstS, secondS }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The start-time figure, before the bench starts anything of its own. */
export async function runStartTime({ root, progress }: FigureContext): Promise<StartTime> {
  progress('npm start → first 200 from /api/health (fresh state, then again)')
  const start = await measureStartTime(root)
  progress(`  ${start.firstS.toFixed(2)} s fresh, ${start.secondS.toFixed(2)} s again`)
  return start
}

/** `start_to_first_200_s`: the fresh start; the start with data beside it. */
export function startTimeReport(start: StartTime): FigureReport {
  return {
    values: { start_to_first_200_s: start.firstS },
    notes: { start_to_first_200_s: `fresh state; ${round(start.secondS)} s with data` },
    details: { start },
  }
}
