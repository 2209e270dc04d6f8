import { describe, expect, it } from 'vitest'
import { parseRetryAfter } from '../../../shared/databricks/retry-after.js'

const NOW = Date.parse('2026-01-01T00:00:00.000Z')

describe('parseRetryAfter', () => {
  it.each([
    ['2', 2_000],
    ['0', 0],
    [' 120 ', 120_000],
    ['1.5', 1_500],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
  ])('reads %j as %i ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected)
  })

  it.each([[null], [undefined], [''], ['soon'], ['-5']])('ignores %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined()
  })
})
