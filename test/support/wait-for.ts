/** How long `waitFor` waits by default: what an in-process condition needs, with margin. */
const DEFAULT_TIMEOUT_MS = 5_000
/** How often it looks again: often enough not to add latency, rare enough not to load the CPU. */
const DEFAULT_EVERY_MS = 10

export interface WaitForOptions {
  /** What is awaited, for the message on timeout (`the broker is ready`). */
  what?: string
  timeoutMs?: number
  /** The pause between looks. */
  everyMs?: number
  /**
   * Treat a check that throws as "not yet" (a server still starting refuses connections); the
   * last error goes into the timeout's message. Off by default: an error fails at once.
   */
  retryErrors?: boolean
}

/**
 * Looks at `check` until it holds, and resolves with what it returned: a condition, not a sleep.
 * `false` and `undefined` mean "not yet"; any other value (`true`, an object) ends the wait.
 * Rejects after `timeoutMs`, saying what it waited for.
 */
export async function waitFor<T>(
  check: () => T | false | undefined | Promise<T | false | undefined>,
  options: WaitForOptions = {},
): Promise<T> {
  const {
    what = 'the condition',
    timeoutMs = DEFAULT_TIMEOUT_MS,
    everyMs = DEFAULT_EVERY_MS,
  } = options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== false && value !== undefined) return value
    } catch (err) {
      if (!options.retryErrors) throw err
      lastError = err
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : `; last error: ${String(lastError)}`
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${cause}`)
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
