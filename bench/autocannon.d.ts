/** The part of autocannon's programmatic API the bench uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    p50: number
    p90: number
    p99: number
    p99_9: number
  }

  interface Options {
    url: string
    connections?: number
    /** Seconds. */
    duration?: number
    amount?: number
    /** Seconds. */
    timeout?: number
    pipelining?: number
    method?: string
    headers?: Record<string, string>
    /** Requests each connection sends in turn, round and round. */
    requests?: { method?: string; path?: string; headers?: Record<string, string> }[]
  }

  interface Result {
    requests: Histogram & { total: number }
    latency: Histogram
    /** Seconds. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    start: Date
    finish: Date
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void
  }

  function autocannon(options: Options): Instance
  export = autocannon
}
