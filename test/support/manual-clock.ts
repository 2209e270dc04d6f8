import type { Clock, TimerHandle } from '../../shared/clock.js'

interface Pending {
  id: number
  at: number
  fn: () => void
}

/** Lets pending promise callbacks (and their follow-ups) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/**
 * A clock the test moves by hand: `advance` fires due timers in order, letting promise
 * callbacks run after each; `jump` moves time without firing anything, as a suspended laptop.
 */
export class ManualClock implements Clock {
  private nextId = 1
  private pending: Pending[] = []
  /** Every delay ever passed to setTimer, to check clamping. */
  readonly delays: number[] = []

  constructor(private current = Date.parse('2026-11-26T19:00:00.000Z')) {}

  now(): number {
    return this.current
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    this.delays.push(ms)
    const id = this.nextId++
    this.pending.push({ id, at: this.current + ms, fn })
    return { id }
  }

  clearTimer(handle: TimerHandle): void {
    this.pending = this.pending.filter((p) => p.id !== handle.id)
  }

  /** The time at which the earliest timer is due, if any. */
  nextTimerAt(): number | undefined {
    return this.pending.reduce<number | undefined>(
      (min, p) => (min === undefined || p.at < min ? p.at : min),
      undefined,
    )
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms
    await flush()
    for (;;) {
      const due = this.pending.filter((p) => p.at <= target).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.pending = this.pending.filter((p) => p !== due)
      this.current = Math.max(this.current, due.at)
      due.fn()
      await flush()
    }
    this.current = target
    await flush()
  }

  /** Moves the wall clock without firing timers (a suspended process). */
  jump(ms: number): void {
    this.current += ms
  }
}
