import type { Clock, TimerHandle } from '../shared/client/clock.js'

interface Pending {
  id: number
  at: number
  fn: () => void
}

/** Lets pending promise callbacks (and their follow-ups) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Where a {@link ManualClock} starts unless told otherwise. */
export const MANUAL_CLOCK_START = Date.parse('2026-11-26T19:00:00.000Z')

/**
 * A clock the test moves by hand, to pass as the `clock` option of the broker, its cache, the
 * broker client and the workspace calls.
 *
 * - `advance(ms)`: time passes normally; due timers fire in order, promise callbacks run after
 *   each. Wall and monotonic time both move.
 * - `jump(ms)`: a suspended laptop or a CPU-throttled serverless instance. The wall clock moves
 *   forward, the monotonic clock does not (Linux's does not count a suspension), and nothing
 *   fires: timers that fell due are overdue and fire on the next `advance`.
 * - `jumpBack(ms)`: the wall clock is set back, as NTP corrects a clock that ran ahead. Timers
 *   are monotonic, as Node's are, so they keep the time they had left; the world's time
 *   ({@link ManualClock.worldNow}) does not move.
 *
 * `aheadMs` starts the clock that far ahead of the world (a drifted clock NTP will correct).
 */
export class ManualClock implements Clock {
  private nextId = 1
  private pending: Pending[] = []
  private elapsed = 0
  private current: number
  /** How far this clock reads ahead of the rest of the world (negative: behind). */
  private aheadMs: number
  /** Every delay ever passed to setTimer, to check clamping. */
  readonly delays: number[] = []

  constructor(start = MANUAL_CLOCK_START, options: { aheadMs?: number } = {}) {
    this.current = start
    this.aheadMs = options.aheadMs ?? 0
  }

  now(): number {
    return this.current
  }

  /** Milliseconds of time that passed, unaffected by `jump` and `jumpBack`. */
  monotonic(): number {
    return this.elapsed
  }

  /**
   * The time as the rest of the world reads it (a workspace, a database server): this clock's
   * time corrected by how far it runs ahead. Give it to a mock workspace as its `now`, so that
   * tokens expire in the world's time, whatever happens to this machine's clock.
   */
  worldNow(): number {
    return this.current - this.aheadMs
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

  /** Resolves once the clock has been advanced by `ms`: latency the test controls. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, ms))
  }

  /** The time at which the earliest timer is due, if any. */
  nextTimerAt(): number | undefined {
    return this.pending.reduce<number | undefined>(
      (min, p) => (min === undefined || p.at < min ? p.at : min),
      undefined,
    )
  }

  /** How many timers are armed. */
  pendingTimers(): number {
    return this.pending.length
  }

  async advance(ms: number): Promise<void> {
    if (ms < 0) throw new Error('advance() moves forward; use jumpBack() to set the clock back')
    const target = this.current + ms
    await flush()
    for (;;) {
      const due = this.pending.filter((p) => p.at <= target).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.pending = this.pending.filter((p) => p !== due)
      const moved = Math.max(this.current, due.at) - this.current
      this.current += moved
      this.elapsed += moved
      due.fn()
      await flush()
    }
    this.elapsed += target - this.current
    this.current = target
    await flush()
  }

  /** Moves the wall clock forward without firing timers (a suspended process). */
  jump(ms: number): void {
    if (ms < 0) throw new Error('jump() moves forward; use jumpBack() to set the clock back')
    this.current += ms
  }

  /** Sets the wall clock back by `ms`; armed timers keep the time they had left. */
  jumpBack(ms: number): void {
    if (ms < 0) throw new Error('jumpBack() takes a positive number of milliseconds')
    this.current -= ms
    this.aheadMs -= ms
    for (const p of this.pending) p.at -= ms
  }
}
