/**
 * Requests per caller are kept for this long: enough to see a client's rhythm (a pool refilling,
 * a crash loop) on the status page, little enough to stay a few counters per caller.
 */
export const REQUEST_WINDOW_MS = 5 * 60_000
/** The window moves in steps of this size; the last-minute figure is exact to within one step. */
export const REQUEST_BUCKET_MS = 10_000
/** The status page's short figure. */
export const LAST_MINUTE_MS = 60_000

/** One caller's requests in the window. */
export interface CallerRequests {
  caller: string
  /** Requests in about the last minute. */
  last_minute: number
  /** Requests in the whole window. */
  total: number
}

/**
 * Counts credential requests per caller over a sliding window of {@link REQUEST_WINDOW_MS}, in
 * {@link REQUEST_BUCKET_MS} buckets, in memory. Callers are the configured clients, so the map
 * stays as small as the broker's config.
 */
export class RequestWindow {
  private readonly buckets = new Map<string, Map<number, number>>()
  /** The bucket the last request fell in: old buckets are pruned only when it moves on. */
  private current = Number.NaN

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request: in the common case, two Map reads and an increment. */
  record(caller: string): void {
    const bucket = Math.floor(this.now() / REQUEST_BUCKET_MS) * REQUEST_BUCKET_MS
    if (bucket !== this.current) {
      this.current = bucket
      this.prune()
    }
    let counts = this.buckets.get(caller)
    if (counts === undefined) {
      counts = new Map<number, number>()
      this.buckets.set(caller, counts)
    }
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
  }

  /** Every caller seen in the window, busiest first. */
  snapshot(): CallerRequests[] {
    this.prune()
    const now = this.now()
    const out: CallerRequests[] = []
    for (const [caller, counts] of this.buckets) {
      let total = 0
      let lastMinute = 0
      for (const [bucket, n] of counts) {
        total += n
        if (bucket + REQUEST_BUCKET_MS > now - LAST_MINUTE_MS) lastMinute += n
      }
      out.push({ caller, last_minute: lastMinute, total })
    }
    return out.sort((a, b) => b.total - a.total || a.caller.localeCompare(b.caller))
  }

  private prune(): void {
    const oldest = this.now() - REQUEST_WINDOW_MS
    for (const [caller, counts] of this.buckets) {
      for (const bucket of counts.keys()) {
        if (bucket + REQUEST_BUCKET_MS <= oldest) counts.delete(bucket)
      }
      if (counts.size === 0) this.buckets.delete(caller)
    }
  }
}
