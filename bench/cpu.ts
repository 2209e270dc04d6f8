import { readFile } from 'node:fs/promises'

/** The kernel's clock ticks per second in `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux). */
const CLOCK_TICKS_PER_S = 100

/**
 * CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; undefined where
 * there is no procfs. Fields 14 and 15 after the parenthesised command name, which may hold spaces.
 */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    return cpuSecondsOfStat(stat)
  } catch {
    return undefined
  }
}

/** The user + system seconds of one `/proc/<pid>/stat` line. */
export function cpuSecondsOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S
}

/** Runs `during` and adds the CPU seconds `pid` spent meanwhile (undefined without procfs). */
export async function withCpu<T>(
  pid: number | undefined,
  during: () => Promise<T>,
): Promise<T & { cpuS: number | undefined }> {
  const before = pid === undefined ? undefined : await cpuSeconds(pid)
  const result = await during()
  const after = pid === undefined ? undefined : await cpuSeconds(pid)
  const cpuS = before === undefined || after === undefined ? undefined : after - before
  return { ...result, cpuS }
}
