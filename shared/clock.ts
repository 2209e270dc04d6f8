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
}
