import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { findLeftovers, leftoverReport } from './leftovers.js'
import { killAll, procAvailable, waitUntilGone } from './process-tree.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's folder: the registry of started processes and clusters, and their marker. */
    processRun: string
  }
}

/**
 * A process the last test file stopped may still be on its way out when the run ends (its
 * test awaited the leader, not a grandchild's exit); this long it may take, not longer.
 */
const EXIT_GRACE_MS = 2_000
/** How long the leftovers get to die after the teardown's own SIGKILL. */
const KILL_WAIT_MS = 5_000

/**
 * The run's leftover check. Setup makes the run's folder (test/support/process-registry.ts) and
 * provides it to the workers; teardown, which runs last (this file comes first in
 * `globalSetup`), fails the run if any process the suite started, any descendant of one, or any
 * Postgres cluster it ran is still alive — naming each command line and listening port — and
 * kills them, so that no run leaves anything behind on a shared machine.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-test-run-'))
  project.provide('processRun', dir)
  return async () => {
    if (!procAvailable) {
      console.warn('leftover check not run: this system has no /proc to list processes from')
      await rm(dir, { recursive: true, force: true })
      return
    }
    const first = findLeftovers(dir)
    // Those still there after the grace are found again just below and reported.
    await waitUntilGone(
      first.map((l) => l.process),
      EXIT_GRACE_MS,
    ).catch(() => {})
    const leftovers = findLeftovers(dir)
    if (leftovers.length > 0) {
      const report = leftoverReport(leftovers)
      killAll(leftovers.map((l) => l.process))
      // Not ours to kill (another user's), or stuck in the kernel: the report names them anyway.
      await waitUntilGone(
        leftovers.map((l) => l.process),
        KILL_WAIT_MS,
      ).catch(() => {})
      process.exitCode = 1
      throw new Error(`${report}\n(killed now; the run fails)`)
    }
    await rm(dir, { recursive: true, force: true })
  }
}
