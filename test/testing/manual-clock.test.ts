import { describe, expect, it } from 'vitest'
import { elapsedSince, instantOf } from '../../shared/client/clock.js'
import { ManualClock } from '../../testing/manual-clock.js'

describe('ManualClock', () => {
  it('fires due timers in order as time advances, moving wall and monotonic time together', async () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    clock.setTimer(() => fired.push(`b@${clock.now()}`), 20)
    clock.setTimer(() => fired.push(`a@${clock.now()}`), 10)
    await clock.advance(15)
    expect(fired).toEqual(['a@10'])
    await clock.advance(5)
    expect(fired).toEqual(['a@10', 'b@20'])
    expect(clock.monotonic()).toBe(20)
  })

  it('jumps forward as a suspended process: wall time moves, monotonic does not, timers wait', async () => {
    const clock = new ManualClock(0)
    let fired = false
    clock.setTimer(() => {
      fired = true
    }, 10)
    clock.jump(60_000)
    expect(fired).toBe(false)
    expect(clock.now()).toBe(60_000)
    expect(clock.monotonic()).toBe(0)
    expect(clock.worldNow()).toBe(60_000)
    await clock.advance(0)
    expect(fired).toBe(true)
  })

  it('jumps back as a corrected clock: timers keep what they had left, the world does not move', async () => {
    const clock = new ManualClock(100_000)
    let firedAt: number | undefined
    clock.setTimer(() => {
      firedAt = clock.monotonic()
    }, 10_000)
    await clock.advance(4_000)
    clock.jumpBack(60_000)
    expect(clock.now()).toBe(44_000)
    expect(clock.worldNow()).toBe(104_000)
    await clock.advance(6_000)
    expect(firedAt).toBe(10_000)
  })

  it('starts ahead of the world when told, and a jump back by that much sets it right', () => {
    const clock = new ManualClock(0, { aheadMs: 5_000 })
    expect(clock.worldNow()).toBe(-5_000)
    clock.jumpBack(5_000)
    expect(clock.now()).toBe(clock.worldNow())
  })

  it('holds sleep() until the test advances past it', async () => {
    const clock = new ManualClock(0)
    let woke = false
    const sleeping = clock.sleep(1_000).then(() => {
      woke = true
    })
    await clock.advance(999)
    expect(woke).toBe(false)
    await clock.advance(1)
    await sleeping
    expect(woke).toBe(true)
  })

  it('measures elapsed time as the larger of wall and monotonic, whichever way the clock jumps', async () => {
    const clock = new ManualClock(0)
    const then = instantOf(clock)
    await clock.advance(1_000)
    clock.jumpBack(10_000)
    expect(elapsedSince(clock, then)).toBe(1_000)
    clock.jump(20_000)
    expect(elapsedSince(clock, then)).toBe(11_000)
  })

  it('refuses to advance or jump by a negative amount', async () => {
    const clock = new ManualClock(0)
    await expect(clock.advance(-1)).rejects.toThrow(/jumpBack/)
    expect(() => clock.jump(-1)).toThrow(/jumpBack/)
    expect(() => clock.jumpBack(-1)).toThrow()
  })
})
