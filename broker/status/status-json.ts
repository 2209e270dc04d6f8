import type { TargetStatus } from '../credential-cache.js'
import type { PgbouncerStatus } from '../pgbouncer/pgbouncer.js'
import { type PgbouncerView, pgbouncerView } from './pgbouncer-section.js'
import { type CallerRequests, LAST_MINUTE_MS, REQUEST_WINDOW_MS } from './request-window.js'
import { type TimelineView, timelineView } from './timeline.js'

/** The refreshes shown per target, newest first (the cache keeps `HISTORY_LENGTH`). */
export const SHOWN_HISTORY = 10

/** One target as the status page shows it: times as ISO strings and as epoch ms (countdowns). */
export interface TargetView {
  target: string
  source: string
  valid: boolean
  stale: boolean
  user: string | null
  host: string | null
  expires_at: string | null
  expires_at_ms: number | null
  /** The next scheduled fetch: the refresh point, or the retry after a failure. */
  next_refresh_at: string | null
  next_refresh_at_ms: number | null
  last_success_at: string | null
  consecutive_failures: number
  /** Credentials minted because a client reported the current one refused by Postgres. */
  forced_refreshes: number
  last_forced_refresh_at: string | null
  last_error: {
    error_class: string
    kind: 'transient' | 'permanent'
    message: string
    /** What a person can do about it. */
    fix: string
    upstream_status: number | null
    upstream_error_code: string | null
    at: string
  } | null
  history: {
    at: string
    outcome: 'success' | 'failure'
    duration_ms: number
    /** Started by a client's refusal report, not by the schedule. */
    forced: boolean
    error_class: string | null
  }[]
  /** Its credentials and refreshes on one time axis; null before the first. */
  timeline: TimelineView | null
}

/**
 * `GET /status.json`: what the status page shows, and what its script polls. Built from the
 * caches' status (which holds no password) and caller names: never a credential or client token.
 */
export interface StatusView {
  generated_at: string
  /** The broker's clock, so that the page counts down from it and not from the browser's. */
  now_ms: number
  ready: boolean
  draining: boolean
  targets: TargetView[]
  requests: { window_s: number; last_minute_s: number; callers: CallerRequests[] }
  /** The local PgBouncer, when the broker runs one. */
  pgbouncer: PgbouncerView | null
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

/** The status view at `now`; ready as `/readyz` decides it. */
export function statusView(input: {
  statuses: TargetStatus[]
  callers: CallerRequests[]
  draining: boolean
  now: number
  pgbouncer?: PgbouncerStatus | undefined
}): StatusView {
  const targets = input.statuses.map((status) => targetView(status, input.now))
  return {
    generated_at: new Date(input.now).toISOString(),
    now_ms: input.now,
    ready: !input.draining && targets.every((t) => t.valid),
    draining: input.draining,
    targets,
    requests: {
      window_s: REQUEST_WINDOW_MS / 1000,
      last_minute_s: LAST_MINUTE_MS / 1000,
      callers: input.callers,
    },
    pgbouncer: input.pgbouncer ? pgbouncerView(input.pgbouncer) : null,
  }
}

function targetView(status: TargetStatus, now: number): TargetView {
  // Before the first fetch is scheduled the next attempt reads 0: none is planned yet.
  const next = status.nextAttemptAt ? status.nextAttemptAt : status.refreshAt
  const error = status.lastError
  return {
    target: status.target,
    source: status.source,
    valid: status.valid,
    stale: status.stale,
    user: status.user ?? null,
    host: status.host ?? null,
    expires_at: iso(status.expiresAt),
    expires_at_ms: status.expiresAt ?? null,
    next_refresh_at: iso(next),
    next_refresh_at_ms: next ?? null,
    last_success_at: iso(status.lastSuccessAt),
    consecutive_failures: status.consecutiveFailures,
    forced_refreshes: status.forcedRefreshes,
    last_forced_refresh_at: iso(status.lastForcedRefreshAt),
    last_error: error
      ? {
          error_class: error.errorClass,
          kind: error.kind,
          message: error.message,
          fix: error.fix,
          upstream_status: error.upstreamStatus ?? null,
          upstream_error_code: error.upstreamErrorCode ?? null,
          at: new Date(error.at).toISOString(),
        }
      : null,
    history: status.history
      .slice(-SHOWN_HISTORY)
      .reverse()
      .map((record) => ({
        at: new Date(record.at).toISOString(),
        outcome: record.outcome,
        duration_ms: record.durationMs,
        forced: record.forced,
        error_class: record.errorClass ?? null,
      })),
    timeline: timelineView(status, now),
  }
}
