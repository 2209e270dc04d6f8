import { describe, expect, it } from 'vitest'
import { type ProcessInfo, processTree, readProcess } from '../support/process-tree.js'

/** A /proc entry as the tests need it. */
function proc(
  pid: number,
  fields: Partial<Omit<ProcessInfo, 'pid'>> & { startTicks: number },
): ProcessInfo {
  return { pid, ppid: 1, pgid: pid, sid: pid, state: 'S', command: `cmd-${pid}`, ...fields }
}

const pids = (tree: ProcessInfo[]) => tree.map((p) => p.pid)

describe('processTree', () => {
  it('finds children by parent, transitively, and leaves out zombies', () => {
    const all = [
      proc(100, { startTicks: 10 }),
      proc(101, { startTicks: 11, ppid: 100, pgid: 500, sid: 500 }),
      proc(102, { startTicks: 12, ppid: 101, pgid: 600, sid: 600 }),
      proc(103, { startTicks: 13, ppid: 100, state: 'Z' }),
      proc(104, { startTicks: 14 }),
    ]
    expect(pids(processTree([{ pid: 100, startTicks: 10 }], all))).toEqual([100, 101, 102])
  })

  it('keeps an orphan that init adopted through the group or session it was born in', () => {
    const all = [proc(201, { startTicks: 21, pgid: 200, sid: 200 })]
    expect(pids(processTree([{ pid: 200, startTicks: 20, endTicks: 30 }], all))).toEqual([201])
  })

  it('does not take a later process that got the same pid, or a stranger in a reused group', () => {
    const all = [
      // The pid was reused after the root died: another process, started later.
      proc(300, { startTicks: 90 }),
      // A stranger leading a group whose number was free again.
      proc(301, { startTicks: 95, pgid: 300, sid: 300 }),
      // A member from the root's lifetime, and its child started after the root died.
      proc(302, { startTicks: 35, pgid: 300, sid: 300 }),
      proc(303, { startTicks: 99, ppid: 302, pgid: 300, sid: 300 }),
    ]
    expect(pids(processTree([{ pid: 300, startTicks: 30, endTicks: 40 }], all))).toEqual([302, 303])
  })

  it('reads this very process from /proc, parent and start time included', () => {
    const self = readProcess(process.pid)
    expect(self).toMatchObject({ pid: process.pid, ppid: process.ppid, state: expect.any(String) })
    expect(self?.command).toContain('node')
    expect(self?.startTicks).toBeGreaterThan(0)
  })
})
