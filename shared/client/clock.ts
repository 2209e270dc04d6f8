/** Node clamps (and warns about) timer delays above this; longer waits are re-armed in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1

export type TimerHandle = { readonly id: unknown }

/**
 * Time as the broker and its clients see it, injected so that tests script the clock
 * instead of sleeping.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number
  /** Run `fn` after `ms`; delays above {@link MAX_TIMER_MS} are clamped by the caller. */
  setTimer(fn: () => void, ms: number): TimerHandle
  clearTimer(handle: TimerHandle): void
  /**
   * Milliseconds from an arbitrary start that never jump when the wall clock is set (NTP, a
   * restored VM). Optional: without it, elapsed time is read from the wall clock alone.
   */
  monotonic?(): number
}

/** The real clock; timers are unref'd so they never keep a process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const id = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS))
    id.unref()
    return { id }
  },
  clearTimer(handle) {
    clearTimeout(handle.id as NodeJS.Timeout)
  },
  monotonic: () => performance.now(),
}

/** A moment as both of a clock's readings saw it. */
export interface Instant {
  wall: number
  monotonic: number | undefined
}

/** The present moment on `clock`, to measure elapsed time from with {@link elapsedSince}. */
export function instantOf(clock: Clock): Instant {
  return { wall: clock.now(), monotonic: clock.monotonic?.() }
}

/**
 * Time since `then`: the larger of what the wall clock and the monotonic clock say. A wall clock
 * set back therefore never makes time pass more slowly (a credential never seems to live longer
 * than it does, a timer never waits longer than it should), and a suspended process, whose
 * monotonic clock may have stopped, still sees the wall-clock time that went by.
 */
export function elapsedSince(clock: Clock, then: Instant): number {
  const wall = clock.now() - then.wall
  const monotonic = clock.monotonic?.()
  if (monotonic === undefined || then.monotonic === undefined) return wall
  return Math.max(wall, monotonic - then.monotonic)
}
