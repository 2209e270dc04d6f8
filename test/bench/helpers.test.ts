import { describe, expect, it } from 'vitest'
import { interleavedOrder, runInterleaved } from '../../bench/interleave.js'
import {
  formatTable,
  GOALS,
  goalRow,
  meets,
  NUMERIC_KEYS,
  type NumericKey,
  toJson,
} from '../../bench/report.js'
import {
  AROUND_MS,
  QUIET_MS,
  rotationInstants,
  rotationLatency,
} from '../../bench/rotation-analysis.js'
import { median, percentile } from '../../bench/stats.js'

describe('the bench statistics', () => {
  it('takes the middle value as the median of an odd count, unsorted, without reordering the input', () => {
    const values = [5, 1, 3]
    expect(median(values)).toBe(3)
    expect(values).toEqual([5, 1, 3])
  })

  it('averages the two middle values for an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })

  it('has no median and no percentile for no values', () => {
    expect(median([])).toBeNaN()
    expect(percentile([], 99)).toBeNaN()
  })

  it('takes percentiles by nearest rank, always an observed value', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(percentile(hundred, 99)).toBe(99)
    expect(percentile(hundred, 100)).toBe(100)
    expect(percentile([10, 20, 30, 40], 50)).toBe(20)
    expect(percentile([7], 99)).toBe(7)
    expect(() => percentile([1], 101)).toThrow(RangeError)
  })
})

describe('interleaving', () => {
  it('runs every variant once per round, in the given order, round after round (A B A B …)', () => {
    expect(interleavedOrder(['broker', 'bare'], 3)).toEqual([
      { label: 'broker', round: 0 },
      { label: 'bare', round: 0 },
      { label: 'broker', round: 1 },
      { label: 'bare', round: 1 },
      { label: 'broker', round: 2 },
      { label: 'bare', round: 2 },
    ])
  })

  it('refuses zero rounds and repeated labels', () => {
    expect(() => interleavedOrder(['a'], 0)).toThrow(RangeError)
    expect(() => interleavedOrder(['a', 'a'], 1)).toThrow()
  })

  it('calls the variants in interleaved order and returns each one’s results in round order', async () => {
    const calls: string[] = []
    const results = await runInterleaved(
      {
        a: async (round) => {
          calls.push(`a${round}`)
          return round * 10
        },
        b: async (round) => {
          calls.push(`b${round}`)
          return `b${round}`
        },
        c: async (round) => {
          calls.push(`c${round}`)
          return round
        },
      },
      2,
    )
    expect(calls).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1'])
    expect(results).toEqual({ a: [0, 10], b: ['b0', 'b1'], c: [0, 1] })
  })
})

describe('the rotation analysis', () => {
  it('counts a burst of mints (one per new connection) as one rotation at its first mint', () => {
    expect(rotationInstants([10_000, 10_300, 10_600, 3_000, 20_000])).toEqual([
      3_000, 10_000, 20_000,
    ])
  })

  it('compares the p99 of requests sent in the second around a rotation with those far from it', () => {
    const rotation = 100_000
    const samples = [
      // Around the rotation: slow.
      ...Array.from({ length: 100 }, (_, i) => ({
        sentAt: rotation - AROUND_MS + i * 10,
        latencyMs: 20,
        status: 200,
      })),
      // Between "around" and "quiet": ignored.
      { sentAt: rotation + AROUND_MS + 100, latencyMs: 1000, status: 200 },
      // Quiet: fast.
      ...Array.from({ length: 100 }, (_, i) => ({
        sentAt: rotation + QUIET_MS + 1 + i,
        latencyMs: 4,
        status: 200,
      })),
    ]
    expect(rotationLatency(samples, [rotation])).toEqual({
      aroundP99Ms: 20,
      steadyP99Ms: 4,
      ratio: 5,
      aroundCount: 100,
      steadyCount: 100,
    })
  })
})

describe('the report', () => {
  const figures = Object.fromEntries(NUMERIC_KEYS.map((k, i) => [k, i + 0.12345])) as Record<
    NumericKey,
    number
  >
  const json = toJson(figures, {
    rotationDroppedConnections: { error: 'not measured' },
    alternatives: {
      per_connection_credential: {
        rotation_p99_ratio: 3.2,
        upstream_calls: 40,
        failed_requests: 2,
        rotations: 4,
      },
      databricks_lakebase: { error: 'does not run on Node 20' },
    },
    details: {},
    machine: {},
    settings: {},
  })

  it('holds every figure the issue names as a number, rounded to three decimals', () => {
    for (const key of NUMERIC_KEYS) {
      expect(typeof json[key]).toBe('number')
      expect(json[key]).toBeCloseTo(figures[key], 3)
    }
    expect(Object.keys(json)).toEqual(expect.arrayContaining([...NUMERIC_KEYS, 'alternatives']))
  })

  it('gives each alternative its rotation figures or an error string', () => {
    for (const alternative of Object.values(json.alternatives)) {
      if ('error' in alternative) {
        expect(typeof alternative.error).toBe('string')
      } else {
        expect(typeof alternative.rotation_p99_ratio).toBe('number')
        expect(typeof alternative.upstream_calls).toBe('number')
        expect(typeof alternative.failed_requests).toBe('number')
      }
    }
    expect(JSON.parse(JSON.stringify(json))).toEqual(json)
  })

  it('says for each goal whether it was met', () => {
    expect(Object.keys(json.goals).sort()).toEqual(GOALS.map((g) => g.key).sort())
    const broker = GOALS.find((g) => g.key === 'broker_vs_bare_hono')
    const calls = GOALS.find((g) => g.key === 'cold_burst_upstream_calls')
    if (!broker || !calls) throw new Error('goals missing')
    expect(meets(broker, 0.85)).toBe(true)
    expect(meets(broker, 0.84)).toBe(false)
    expect(meets(calls, 1)).toBe(true)
    expect(meets(calls, 2)).toBe(false)
    expect(meets(broker, Number.NaN)).toBe(false)
  })

  it('prints a Markdown table with aligned columns', () => {
    const table = formatTable([
      goalRow('broker p99', 'broker_p99_ms', 1.5, 'bare 1 ms'),
      { figure: 'alternative', result: 'p99 ratio 3', goal: 'reported', status: '' },
    ])
    const lines = table.split('\n')
    expect(lines).toHaveLength(4)
    expect(new Set(lines.map((l) => l.length)).size).toBe(1)
    expect(lines[2]).toContain('1.5 ms (bare 1 ms)')
    expect(lines[2]).toContain('met')
  })
})
