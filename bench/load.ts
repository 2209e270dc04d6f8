import autocannon from 'autocannon'

/** autocannon's own default: a request that takes longer is counted as an error. */
const REQUEST_TIMEOUT_S = 10

export interface LoadOptions {
  url: string
  connections: number
  /** Run for this long… */
  durationS?: number
  /** …or until this many requests have been answered. */
  amount?: number
  headers?: Record<string, string>
  /**
   * Paths each connection requests in turn, round and round (on `url`'s origin); `url`'s own
   * path when not given.
   */
  paths?: readonly string[]
  /** Keep every response's time and latency (for per-second analysis around events). */
  recordResponses?: boolean
}

/** One answered request: when it was sent and how long it took. */
export interface ResponseSample {
  /** Epoch milliseconds. */
  sentAt: number
  latencyMs: number
  status: number
}

export interface LoadResult {
  /** Requests answered with 2xx per second of the run. */
  okPerS: number
  ok: number
  /** Latency percentiles of the 2xx answers (autocannon's histogram, 1 ms resolution). */
  p50Ms: number
  p99Ms: number
  /** Answers that were not 2xx. */
  non2xx: number
  /** Connection errors and timeouts: requests that got no answer. */
  errors: number
  durationS: number
  responses: ResponseSample[]
}

/**
 * Load from autocannon's programmatic API: `connections` keep-alive connections, each sending its
 * next request as soon as the previous one is answered (closed loop), on loopback.
 */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    ...(options.amount === undefined
      ? { duration: options.durationS }
      : { amount: options.amount }),
    headers: options.headers,
    ...(options.paths === undefined
      ? {}
      : { requests: options.paths.map((path) => ({ method: 'GET', path })) }),
    timeout: REQUEST_TIMEOUT_S,
  })
  const responses: ResponseSample[] = []
  if (options.recordResponses) {
    instance.on('response', (_client: unknown, status: number, _bytes: number, latency: number) => {
      const now = performance.timeOrigin + performance.now()
      responses.push({ sentAt: now - latency, latencyMs: latency, status })
    })
  }
  const result = await instance
  return {
    okPerS: result['2xx'] / result.duration,
    ok: result['2xx'],
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    durationS: result.duration,
    responses,
  }
}
