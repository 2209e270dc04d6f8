/** A function whose concurrent calls share one run; `running` says whether one is under way. */
export interface SingleFlight<T> {
  (): Promise<T>
  readonly running: boolean
}

/**
 * Shares one in-flight promise among all concurrent callers and forgets it once it settles,
 * so a rejection is never cached: the next call after a failure starts a new attempt.
 * The broker's cache needs `running` (a demand fetch or a refusal report joins the fetch under
 * way), which p-memoize, used by the broker client, does not expose.
 */
export function singleFlight<T>(run: () => Promise<T>): SingleFlight<T> {
  let inFlight: Promise<T> | undefined
  const call = () => {
    if (inFlight) return inFlight
    const attempt = run()
    inFlight = attempt
    const forget = () => {
      if (inFlight === attempt) inFlight = undefined
    }
    attempt.then(forget, forget)
    return attempt
  }
  Object.defineProperty(call, 'running', { get: () => inFlight !== undefined })
  return call as SingleFlight<T>
}
