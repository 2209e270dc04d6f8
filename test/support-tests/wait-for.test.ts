import { describe, expect, it } from 'vitest'
import { rejectionOf, waitFor } from '../support/kit.js'

/** A check that answers `values` in turn, then keeps answering the last. */
function answers<T>(...values: T[]) {
  let calls = 0
  const check = () => values[Math.min(calls++, values.length - 1)] as T
  return { check, calls: () => calls }
}

describe('waitFor', () => {
  it('resolves with the first value that is neither false nor undefined', async () => {
    const { check, calls } = answers<{ n: number } | false | undefined>(false, undefined, { n: 3 })
    expect(await waitFor(check, { everyMs: 1 })).toEqual({ n: 3 })
    expect(calls()).toBe(3)
  })

  it('rejects after its timeout, saying what it waited for', async () => {
    const err = await rejectionOf(
      waitFor(() => false, { what: 'the broker is ready', timeoutMs: 20, everyMs: 1 }),
      Error,
    )
    expect(err.message).toBe('timed out after 20 ms waiting until the broker is ready')
  })

  it('fails at once when the check throws, unless told to retry errors', async () => {
    const refused = new Error('ECONNREFUSED')
    let calls = 0
    const flaky = () => {
      calls += 1
      if (calls < 3) throw refused
      return true
    }
    expect(await rejectionOf(waitFor(flaky, { everyMs: 1 }), Error)).toBe(refused)
    calls = 0
    expect(await waitFor(flaky, { everyMs: 1, retryErrors: true })).toBe(true)
    expect(calls).toBe(3)
  })

  it('names the last error when retried errors run out the time', async () => {
    const err = await rejectionOf(
      waitFor(
        () => {
          throw new Error('ECONNREFUSED')
        },
        { timeoutMs: 20, everyMs: 1, retryErrors: true },
      ),
      Error,
    )
    expect(err.message).toContain('last error: Error: ECONNREFUSED')
  })
})
