/**
 * Reads an HTTP `Retry-After` value, which is either delay-seconds or an HTTP date
 * (RFC 9110 §10.2.3), as milliseconds from `now`. Returns undefined when it is absent or
 * unreadable, so that the caller's own backoff applies instead.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  // An HTTP date always names a weekday and month; this keeps Date.parse from reading "-5" as a year.
  if (!/[a-z]/i.test(trimmed)) return undefined
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return undefined
  // A date already past means "now", not a negative wait.
  return Math.max(0, at - now)
}
