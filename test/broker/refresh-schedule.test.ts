import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_REFRESH_POLICY,
  isServable,
  MIN_REFRESH_FRACTION,
  meetsOutageBudget,
  type RefreshPolicy,
  refreshSchedule,
} from '../../broker/refresh-schedule.js'

const S = 1000
const MIN = 60 * S
const HOUR = 60 * MIN
const T0 = Date.parse('2026-11-26T19:00:00Z')
const noJitter: RefreshPolicy = { ...DEFAULT_REFRESH_POLICY, jitterFraction: 0 }
const budget = (ms: number, policy: RefreshPolicy = noJitter): RefreshPolicy => ({
  ...policy,
  outageBudgetMs: ms,
})

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
    [
      'a 45-minute outage budget moves a 1-hour token’s refresh to 14 min 45 s',
      HOUR,
      budget(45 * MIN),
      0,
      14 * MIN + 45 * S,
      HOUR - 15 * S,
    ],
    [
      'a 10-minute outage budget leaves a 1-hour token at half its life (already enough)',
      HOUR,
      budget(10 * MIN),
      0,
      30 * MIN,
      HOUR - 15 * S,
    ],
    [
      'a 10 s budget refreshes a 20-second token with a 2 s minimum TTL at 8 s',
      20 * S,
      budget(10 * S, { ...noJitter, minTtlMs: 2 * S }),
      0,
      8 * S,
      18 * S,
    ],
    [
      'jitter still only moves a budgeted refresh earlier',
      HOUR,
      budget(45 * MIN, DEFAULT_REFRESH_POLICY),
      0.999,
      (14 * MIN + 45 * S) * (1 - 0.0999),
      HOUR - 15 * S,
    ],
    [
      'a budget the lifetime cannot meet refreshes at a tenth of it, never in a loop',
      20 * S,
      budget(10 * S),
      0,
      2 * S,
      5 * S,
    ],
    [
      'a 1-hour budget leaves a 30-day token at half its life',
      30 * 24 * HOUR,
      budget(HOUR),
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

describe('the outage budget', () => {
  it.each([
    { lifetime: HOUR, budgetMs: 45 * MIN, meets: true },
    { lifetime: HOUR, budgetMs: 0.9 * HOUR - 15 * S, meets: true },
    { lifetime: HOUR, budgetMs: 0.9 * HOUR, meets: false },
    { lifetime: 20 * S, budgetMs: 10 * S, meets: false },
  ])(
    'a lifetime of $lifetime ms meets a budget of $budgetMs ms: $meets',
    ({ lifetime, budgetMs, meets }) => {
      expect(meetsOutageBudget(lifetime, budget(budgetMs))).toBe(meets)
    },
  )

  it('leaves at least the budget after the refresh point whenever the lifetime allows it', () => {
    const policies = fc.record({
      refreshFraction: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      minTtlMs: fc.integer({ min: 0, max: 5 * MIN }),
      jitterFraction: fc.constantFrom(0, 0.1, 0.5),
      outageBudgetMs: fc.integer({ min: 0, max: 48 * HOUR }),
    })
    fc.assert(
      fc.property(
        fc.integer({ min: S, max: 30 * 24 * HOUR }),
        policies,
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (lifetime, policy, random) => {
          const { refreshAt, serveUntil } = refreshSchedule(T0, T0 + lifetime, policy, random)
          const plain = refreshSchedule(
            T0,
            T0 + lifetime,
            { ...policy, outageBudgetMs: undefined },
            random,
          )
          expect(refreshAt).toBeGreaterThanOrEqual(T0)
          // The budget only ever moves the refresh earlier, and never into a refresh loop.
          expect(refreshAt).toBeLessThanOrEqual(plain.refreshAt)
          const floor = Math.min(policy.refreshFraction, MIN_REFRESH_FRACTION)
          const earliest = T0 + lifetime * floor * (1 - policy.jitterFraction * random)
          expect(refreshAt).toBeGreaterThanOrEqual(Math.floor(Math.min(earliest, serveUntil)) - 1)
          if (meetsOutageBudget(lifetime, policy)) {
            expect(serveUntil - refreshAt).toBeGreaterThanOrEqual(policy.outageBudgetMs)
          }
        },
      ),
      { numRuns: 2_000 },
    )
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
