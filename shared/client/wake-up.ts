/**
 * How long a statement or login that never reached the server waits for a server that is waking
 * (Autoscaling's scale-to-zero resumes in well under a second) or restarting. Short of the 6 s in
 * which the reliability suite wants an outage answered, so a real outage still gets a fast 503.
 * Both driver entries use it (node-postgres: at most its connect timeout).
 */
export const WAKE_TIMEOUT_MS = 3_000
/**
 * The pause between attempts to reach a waking server (Autoscaling's scale-to-zero resumes in a
 * few hundred milliseconds) starts here and doubles, up to {@link MAX_WAKE_PAUSE_MS}: the first
 * retries come soon after the wake-up, and a longer restart costs a handful of attempts.
 */
export const WAKE_PAUSE_MS = 100
export const MAX_WAKE_PAUSE_MS = 1_000

/** The pause after `pauseMs`: twice as long, at most {@link MAX_WAKE_PAUSE_MS}. */
export function nextWakePause(pauseMs: number): number {
  return Math.min(pauseMs * 2, MAX_WAKE_PAUSE_MS)
}
