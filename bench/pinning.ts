import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'

/**
 * CPU pinning (Linux, `taskset`, two CPUs or more): the server under test alone on the last CPU,
 * the load generator, Postgres and everything else on the others. On a two-core machine a closed
 * loop otherwise lets the scheduler split the cores differently from one run to the next (the
 * server's V8 helper threads, Postgres's backends and autocannon all compete), which moved the
 * functions' ratios by 20–30 % between rounds. Off with `BENCH_PIN=0`, or where it cannot work.
 */
export interface Pinning {
  /** The CPU list of the server under test (`taskset -c`), or undefined when not pinning. */
  serverCpus: string | undefined
  /** Moves a process (all its threads) to the given CPU list. */
  move(pid: number, cpus: string): void
  /** The CPU list of everything else. */
  otherCpus: string | undefined
}

export function pinning(): Pinning {
  const cpus = availableParallelism()
  const wanted = process.env.BENCH_PIN !== '0' && process.platform === 'linux' && cpus >= 2
  const available = wanted && hasTaskset()
  const move = (pid: number, list: string) => {
    if (available)
      execFileSync('taskset', ['-a', '-c', '-p', list, String(pid)], { stdio: 'ignore' })
  }
  return available
    ? { serverCpus: String(cpus - 1), otherCpus: cpus === 2 ? '0' : `0-${cpus - 2}`, move }
    : { serverCpus: undefined, otherCpus: undefined, move }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
