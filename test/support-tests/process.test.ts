import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../support/broker.js'
import defaultSetup from '../support/global-leaks.js'
import { findLeftovers, leftoverReport } from '../support/leftovers.js'
import { spawnTs } from '../support/process.js'
import {
  RUN_ENV,
  readRegistry,
  recordCluster,
  recordSpawn,
  runDir,
} from '../support/process-registry.js'
import {
  isRunning,
  killAll,
  type ProcessInfo,
  readProcess,
  waitUntilGone,
} from '../support/process-tree.js'

const TREE = 'test/support-tests/fixtures/tree.ts'

/** Everything a test here started outside the kit, killed whatever the test's outcome. */
const strays: ProcessInfo[] = []
afterEach(async () => {
  killAll(strays)
  await waitUntilGone(strays.splice(0), 5_000)
})

/** The processes named by a `tree …` line: the tree's root, both grandchildren, the port. */
function parseTree(line: string) {
  const [, ...numbers] = line.trim().split(' ')
  const [root, inGroup, escaped, port] = numbers.map(Number) as [number, number, number, number]
  const info = (pid: number) => {
    const p = readProcess(pid)
    if (!p) throw new Error(`pid ${pid} is gone already`)
    strays.push(p)
    return p
  }
  return { root: info(root), inGroup: info(inGroup), escaped: info(escaped), port }
}

describe('a process started through the test kit', () => {
  it('is one process for a TypeScript entry, recorded with its test file', async () => {
    const tree = spawnTs(TREE, [], {})
    const [line] = await tree.waitFor(/tree [\d ]+\n/)
    const { root } = parseTree(line)
    expect(root.pid).toBe(tree.pid)
    expect(root.command).toContain(TREE)
    const dir = runDir()
    expect(dir).toBeDefined()
    expect(readRegistry(dir as string).spawned).toContainEqual(
      expect.objectContaining({ pid: tree.pid, file: 'test/support-tests/process.test.ts' }),
    )
    await tree.kill('SIGKILL')
  })

  it('takes every descendant with it on kill("SIGKILL"), in its group or not', async () => {
    const tree = spawnTs(TREE, [], {})
    const { root, inGroup, escaped } = parseTree((await tree.waitFor(/tree [\d ]+\n/))[0])
    await tree.kill('SIGKILL')
    expect([root, inGroup, escaped].filter(isRunning)).toEqual([])
  })

  it('waits for the exit on SIGTERM, then sweeps what the process left behind', async () => {
    const tree = spawnTs(TREE, [], {})
    const { inGroup, escaped } = parseTree((await tree.waitFor(/tree [\d ]+\n/))[0])
    expect(await tree.kill('SIGTERM')).toBe(0)
    expect([inGroup, escaped].filter(isRunning)).toEqual([])
  })

  for (const end of ['exit', 'signal'] as const) {
    it(`is swept when the process that started it ends (${end})`, async () => {
      const parent = spawnTs('test/support-tests/fixtures/kit-parent.ts', [end], {})
      const [line] = await parent.waitFor(/kit-parent tree [\d ]+\n/)
      const { root, inGroup, escaped } = parseTree(line.replace('kit-parent ', ''))
      if (end === 'signal') parent.child.kill('SIGTERM')
      await parent.exited
      await waitUntilGone([root, inGroup, escaped], 5_000)
      expect([root, inGroup, escaped].filter(isRunning)).toEqual([])
      await parent.kill()
    })
  }
})

/** Starts tree.ts outside the kit, as a buggy helper would, marked and recorded for `dir`. */
async function leakyTree(dir: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', TREE], {
    env: { ...process.env, [RUN_ENV]: dir },
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const self = readProcess(child.pid as number) as ProcessInfo
  strays.push(self)
  recordSpawn({ ...self, command: `node --import tsx ${TREE}` }, dir)
  let out = ''
  for await (const chunk of child.stdout ?? []) {
    out += String(chunk)
    if (out.endsWith('\n')) break
  }
  return { child, line: out }
}

describe('the leftover check', () => {
  it('names the orphans of a SIGKILLed parent with their command lines and ports', async () => {
    const dir = await tempDir('lakebase-leak-test-')
    const { child, line } = await leakyTree(dir)
    const { root, inGroup, escaped, port } = parseTree(line)
    child.kill('SIGKILL')
    await once(child, 'exit')

    const leftovers = findLeftovers(dir)
    expect(leftovers.map((l) => l.process.pid).sort()).toEqual([inGroup.pid, escaped.pid].sort())
    expect(isRunning(root)).toBe(false)
    const report = leftoverReport(leftovers)
    expect(report).toContain('The test run left 2 processes running:')
    expect(report).toContain(`pid ${inGroup.pid}: ${inGroup.command}`)
    expect(report).toContain(`listening on 127.0.0.1:${port}`)
    expect(report).toContain('test/support-tests/process.test.ts')

    killAll(leftovers.map((l) => l.process))
    await waitUntilGone(
      leftovers.map((l) => l.process),
      5_000,
    )
    expect(findLeftovers(dir)).toEqual([])
  })

  it("names a Postgres cluster's processes by its data folder and postmaster.pid", async () => {
    const dir = await tempDir('lakebase-leak-test-')
    const dataDir = join(await tempDir('lakebase-leak-pg-'), 'data')
    await mkdir(dataDir)
    recordCluster(dataDir, dir)
    const byName = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)', dataDir], {
      stdio: 'ignore',
    })
    const byPidFile = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], {
      stdio: 'ignore',
    })
    const both = [byName, byPidFile].map((c) => readProcess(c.pid as number) as ProcessInfo)
    strays.push(...both)
    // As Postgres writes it: pid, data folder, start time (epoch seconds), port…
    const pidFile = (startedS: number) =>
      writeFile(join(dataDir, 'postmaster.pid'), `${byPidFile.pid}\n${dataDir}\n${startedS}\n`)
    const reasons = () => new Map(findLeftovers(dir).map((l) => [l.process.pid, l.reason]))

    await pidFile(Math.round(Date.now() / 1000))
    expect(reasons()).toEqual(new Map(both.map((p) => [p.pid, `Postgres cluster ${dataDir}`])))
    // A stale file from a postmaster an hour gone: its pid is someone else's now.
    await pidFile(Math.round(Date.now() / 1000) - 3600)
    expect([...reasons().keys()]).toEqual([byName.pid])
  })

  it('fails the run from the global teardown, and kills what it found', async () => {
    const provided: Record<string, string> = {}
    const project = { provide: (key: string, value: string) => (provided[key] = value) }
    const teardown = await defaultSetup(project as never)
    const dir = provided.processRun as string
    const { child, line } = await leakyTree(dir)
    const { inGroup, escaped } = parseTree(line)
    child.kill('SIGKILL')
    await once(child, 'exit')

    const exitCode = process.exitCode
    try {
      const error = await teardown().then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(String(error)).toContain(`pid ${escaped.pid}: ${escaped.command}`)
      expect(process.exitCode).toBe(1)
    } finally {
      process.exitCode = exitCode
    }
    expect([inGroup, escaped].filter(isRunning)).toEqual([])
  })
})
