import { describe, expect, it } from 'vitest'
import { Teardown } from '../../bench/teardown.js'

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe("the bench's teardown", () => {
  it('stops the parts last-first, and the rest still when one fails', async () => {
    const teardown = new Teardown()
    const stopped: string[] = []
    teardown.add(async () => stopped.push('postgres'))
    teardown.add(async () => {
      throw new Error('already gone')
    })
    teardown.add(async () => stopped.push('broker'))

    await teardown.run()

    expect(stopped).toEqual(['broker', 'postgres'])
  })

  it('stops each part once, and a second run (Ctrl-C) resolves only once the first has stopped all', async () => {
    const teardown = new Teardown()
    const slow = deferred()
    let stops = 0
    let postgresStopped = false
    teardown.add(async () => {
      postgresStopped = true
    })
    teardown.add(async () => {
      stops += 1
      await slow.promise
    })

    const first = teardown.run()
    let secondDone = false
    const second = teardown.run().then(() => {
      secondDone = true
    })
    // Every promise that could settle without the slow stop has settled by the next macrotask.
    await new Promise((resolve) => setImmediate(resolve))
    expect(secondDone).toBe(false)

    slow.resolve()
    await Promise.all([first, second])
    expect(postgresStopped).toBe(true)
    expect(stops).toBe(1)
  })

  it('leaves what is added after a run to the next one', async () => {
    const teardown = new Teardown()
    await teardown.run()
    let stopped = false
    teardown.add(async () => {
      stopped = true
    })
    expect(stopped).toBe(false)

    await teardown.run()

    expect(stopped).toBe(true)
  })
})
