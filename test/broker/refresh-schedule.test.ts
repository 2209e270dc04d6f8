import { describe, expect, it } from 'vitest'
import {
  DEFAULT_REFRESH_POLICY,
  isServable,
  type RefreshPolicy,
  refreshSchedule,
} from '../../broker/refresh-schedule.js'

const S = 1000
const MIN = 60 * S
const HOUR = 60 * MIN
const T0 = Date.parse('2026-11-26T19:00:00Z')
const noJitter: RefreshPolicy = { ...DEFAULT_REFRESH_POLICY, jitterFraction: 0 }

describe('refreshSchedule', () => {
  it.each([
    // lifetime, policy, random, expected refresh offset, expected serve-until offset
    ['a 1-hour token refreshes at half its life', HOUR, noJitter, 0, 30 * MIN, HOUR - 15 * S],
    [
      'a 20-second token with the default 15 s minimum TTL refreshes at 5 s, while servable',
      20 * S,
      noJitter,
      0,
      5 * S,
      5 * S,
    ],
    [
      'a 20-second token with a 2 s minimum TTL and a fraction of 0.95 refreshes at 18 s',
      20 * S,
      { ...noJitter, refreshFraction: 0.95, minTtlMs: 2 * S },
      0,
      18 * S,
      18 * S,
    ],
    [
      'a 20-second token with a 2 s minimum TTL refreshes at half its life',
      20 * S,
      { ...noJitter, minTtlMs: 2 * S },
      0,
      10 * S,
      18 * S,
    ],
    [
      'jitter moves the refresh point earlier, never later',
      HOUR,
      DEFAULT_REFRESH_POLICY,
      0.999,
      27.003 * MIN,
      HOUR - 15 * S,
    ],
    ['no jitter when random is 0', HOUR, DEFAULT_REFRESH_POLICY, 0, 30 * MIN, HOUR - 15 * S],
    [
      'a fraction of 0.9 buys less headroom',
      HOUR,
      { ...noJitter, refreshFraction: 0.9 },
      0,
      54 * MIN,
      HOUR - 15 * S,
    ],
    ['a 10-second token below the minimum TTL refreshes at once', 10 * S, noJitter, 0, 0, -5 * S],
    ['an already-expired token refreshes at once', -HOUR, noJitter, 0, 0, -HOUR - 15 * S],
    [
      'a 30-day token keeps its exact refresh point',
      30 * 24 * HOUR,
      noJitter,
      0,
      15 * 24 * HOUR,
      30 * 24 * HOUR - 15 * S,
    ],
  ])('%s', (_name, lifetime, policy, random, refreshOffset, serveOffset) => {
    const schedule = refreshSchedule(T0, T0 + lifetime, policy, random)
    expect(schedule.refreshAt - T0).toBeCloseTo(refreshOffset, -1)
    expect(schedule.serveUntil - T0).toBe(serveOffset)
  })

  it('never puts the refresh point after the last servable moment, for any lifetime', () => {
    for (const lifetime of [1 * S, 15 * S, 16 * S, 20 * S, 31 * S, MIN, HOUR, 24 * HOUR]) {
      for (const random of [0, 0.5, 0.999]) {
        const { refreshAt, serveUntil } = refreshSchedule(
          T0,
          T0 + lifetime,
          DEFAULT_REFRESH_POLICY,
          random,
        )
        expect(refreshAt).toBeGreaterThanOrEqual(T0)
        if (serveUntil > T0) expect(refreshAt).toBeLessThanOrEqual(serveUntil)
      }
    }
  })
})

describe('isServable', () => {
  it.each([
    { when: 'well before expiry', left: HOUR, expected: true },
    { when: '16 s before expiry', left: 16 * S, expected: true },
    { when: 'exactly the minimum TTL before expiry', left: 15 * S, expected: false },
    { when: 'after expiry', left: -S, expected: false },
  ])('a credential $when is servable: $expected', ({ left, expected }) => {
    expect(isServable(T0 + left, T0, DEFAULT_REFRESH_POLICY)).toBe(expected)
  })
})
