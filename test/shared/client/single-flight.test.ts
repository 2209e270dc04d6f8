import { describe, expect, it } from 'vitest'
import { singleFlight } from '../../../shared/client/single-flight.js'
import { deferred, rejectionOf } from '../../support/kit.js'

/** A run the test settles by hand, counting how often it was started. */
function scriptedRun<T>() {
  const runs: ReturnType<typeof deferred<T>>[] = []
  const run = () => {
    const d = deferred<T>()
    runs.push(d)
    return d.promise
  }
  return { run, runs }
}

describe('singleFlight', () => {
  it('gives concurrent callers one run and the same promise', async () => {
    const { run, runs } = scriptedRun<string>()
    const shared = singleFlight(run)
    const first = shared()
    const second = shared()
    expect(second).toBe(first)
    expect(runs).toHaveLength(1)
    runs[0]?.resolve('answer')
    expect(await Promise.all([first, second])).toEqual(['answer', 'answer'])
  })

  it('says it is running from the call until the run settles', async () => {
    const { run, runs } = scriptedRun<number>()
    const shared = singleFlight(run)
    expect(shared.running).toBe(false)
    const call = shared()
    expect(shared.running).toBe(true)
    runs[0]?.resolve(1)
    await call
    expect(shared.running).toBe(false)
  })

  it('starts a new run for a call after the last one settled, never reusing its result', async () => {
    const { run, runs } = scriptedRun<number>()
    const shared = singleFlight(run)
    const first = shared()
    runs[0]?.resolve(1)
    // A caller that calls again as soon as it has the answer already gets a new run.
    let again: Promise<number> | undefined
    await first.then(() => {
      again = shared()
    })
    expect(runs).toHaveLength(2)
    expect(again).toBe(runs[1]?.promise)
  })

  it('shares a rejection among the callers of that run, and never caches it', async () => {
    const { run, runs } = scriptedRun<number>()
    const shared = singleFlight(run)
    const first = rejectionOf(shared(), Error)
    const second = rejectionOf(shared(), Error)
    const failure = new Error('upstream is down')
    runs[0]?.reject(failure)
    expect(await first).toBe(failure)
    expect(await second).toBe(failure)
    expect(shared.running).toBe(false)

    const retry = shared()
    expect(runs).toHaveLength(2)
    runs[1]?.resolve(7)
    expect(await retry).toBe(7)
  })
})
