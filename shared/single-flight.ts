/**
 * Shares one in-flight promise among all concurrent callers and forgets it once it settles,
 * so a rejection is never cached: the next call after a failure starts a new attempt.
 * (p-memoize does this too, but its current major needs Node 22.)
 */
export function singleFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined
  return () => {
    if (inFlight) return inFlight
    const attempt = run()
    inFlight = attempt
    const forget = () => {
      if (inFlight === attempt) inFlight = undefined
    }
    attempt.then(forget, forget)
    return attempt
  }
}
