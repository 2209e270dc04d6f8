import type { TargetStatus } from '../credential-cache.js'

const SECOND_MS = 1_000
const MINUTE_MS = 60 * SECOND_MS
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS

/**
 * The spacings a timeline's ticks may have, round numbers on a clock face; the smallest that
 * keeps the ticks at or below {@link MAX_TICKS} is used (past a day: whole days).
 */
export const TICK_STEPS_MS = [
  SECOND_MS,
  5 * SECOND_MS,
  15 * SECOND_MS,
  30 * SECOND_MS,
  MINUTE_MS,
  5 * MINUTE_MS,
  15 * MINUTE_MS,
  30 * MINUTE_MS,
  HOUR_MS,
  3 * HOUR_MS,
  6 * HOUR_MS,
  12 * HOUR_MS,
  DAY_MS,
]
/** About one tick label per 150 px at the page's width: labels never touch. */
export const MAX_TICKS = 6
/** A lone event (the first failure, before any credential) still gets an axis a minute long. */
export const MIN_SPAN_MS = MINUTE_MS

/**
 * A credential on the timeline. `held` is the one the broker hands out; `replaced` was handed out
 * before it and is still valid (sessions logged in with it stay up); `expired` is past its expiry.
 */
export interface TimelineCredential {
  ordinal: number
  issued_at_ms: number
  refresh_at_ms: number
  expires_at_ms: number
  state: 'held' | 'replaced' | 'expired'
}

/** A fetch from upstream on the timeline: scheduled or forced by a refusal report, and how it went. */
export interface TimelineRefresh {
  at_ms: number
  outcome: 'success' | 'failure'
  forced: boolean
  error_class: string | null
  error_kind: 'transient' | 'permanent' | null
}

/**
 * One target's credentials (issue to expiry, with the refresh point) and fetches on one time
 * axis, from the first of them to the last expiry or now, whichever is later.
 */
export interface TimelineView {
  from_ms: number
  to_ms: number
  ticks: { at_ms: number; label: string }[]
  /** Oldest first. */
  credentials: TimelineCredential[]
  /** Oldest first. */
  refreshes: TimelineRefresh[]
}

/** The timeline of `status` at `now`; null before the first credential or fetch. */
export function timelineView(status: TargetStatus, now: number): TimelineView | null {
  const { credentials, history } = status
  if (credentials.length === 0 && history.length === 0) return null
  const from = Math.min(...credentials.map((c) => c.issuedAt), ...history.map((r) => r.at))
  const to = Math.max(now, from + MIN_SPAN_MS, ...credentials.map((c) => c.expiresAt))
  const newest = credentials.at(-1)?.ordinal
  return {
    from_ms: from,
    to_ms: to,
    ticks: ticks(from, to),
    credentials: credentials.map((c) => ({
      ordinal: c.ordinal,
      issued_at_ms: c.issuedAt,
      refresh_at_ms: c.refreshAt,
      expires_at_ms: c.expiresAt,
      state: c.expiresAt <= now ? 'expired' : c.ordinal === newest ? 'held' : 'replaced',
    })),
    refreshes: history.map((r) => ({
      at_ms: r.at,
      outcome: r.outcome,
      forced: r.forced,
      error_class: r.errorClass ?? null,
      error_kind: r.errorKind ?? null,
    })),
  }
}

/**
 * Ticks on whole multiples of a round step (UTC), labelled `HH:MM`, `HH:MM:SS` for steps under a
 * minute, and by date for steps of days.
 */
export function ticks(from: number, to: number): { at_ms: number; label: string }[] {
  const span = to - from
  const step =
    TICK_STEPS_MS.find((s) => span / s <= MAX_TICKS) ??
    Math.ceil(span / MAX_TICKS / DAY_MS) * DAY_MS
  const [labelStart, labelEnd] = step >= DAY_MS ? [0, 10] : step < MINUTE_MS ? [11, 19] : [11, 16]
  const result: { at_ms: number; label: string }[] = []
  for (let at = Math.ceil(from / step) * step; at <= to; at += step) {
    result.push({ at_ms: at, label: new Date(at).toISOString().slice(labelStart, labelEnd) })
  }
  return result
}
