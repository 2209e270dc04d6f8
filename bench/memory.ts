import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)
/** How often the resident set is sampled where the kernel keeps no peak for us. */
const SAMPLE_EVERY_MS = 100

/** Resident memory of a process, MB. */
export interface ResidentMemory {
  rss: number
  /** The peak resident set since the process started (Linux). */
  peak?: number
  /** The private part (heap, stacks, JIT code) — the rest is mostly the shared node binary. */
  anon?: number
}

/** Resident memory of another process: from procfs on Linux, else from `ps`. */
export async function residentMemoryMb(pid: number): Promise<ResidentMemory> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024 }
  } catch {
    // No procfs (macOS): ask ps, which knows only the current value.
    const { stdout } = await run('ps', ['-o', 'rss=', '-p', String(pid)])
    return { rss: Number(stdout.trim()) / 1024 }
  }
}

/**
 * The largest resident set of a process while `during` runs: the kernel's own high-water mark
 * where there is one (it also sees spikes between samples), else the largest sample; and the
 * largest private (anonymous) part sampled.
 */
export async function peakResidentMb<T>(
  pid: number,
  during: () => Promise<T>,
): Promise<{ result: T; peakMb: number; peakAnonMb: number | undefined }> {
  let peak = 0
  let peakAnon: number | undefined
  const sample = async () => {
    const memory = await residentMemoryMb(pid).catch(() => undefined)
    if (!memory) return
    peak = Math.max(peak, memory.peak ?? memory.rss)
    if (memory.anon !== undefined) peakAnon = Math.max(peakAnon ?? 0, memory.anon)
  }
  await sample()
  const timer = setInterval(() => void sample(), SAMPLE_EVERY_MS)
  try {
    const result = await during()
    await sample()
    return { result, peakMb: peak, peakAnonMb: peakAnon }
  } finally {
    clearInterval(timer)
  }
}
