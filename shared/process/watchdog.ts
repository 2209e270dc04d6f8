import { spawn } from 'node:child_process'

/**
 * How often the watchdog looks. Its cost is one `kill -0` and one `sleep` a second; Postgres
 * stops within a second of the fast-shutdown signal, so leftovers live about two seconds.
 */
const WATCHDOG_INTERVAL_S = 1

/**
 * A shell loop, not a Node process: it costs about a megabyte instead of forty. `$1` is watched,
 * `$2` is stopped with `$3` once `$1` is gone; the loop ends by itself when `$2` ends first.
 */
const WATCHDOG_SCRIPT = `
while kill -0 "$1" 2>/dev/null; do
  kill -0 "$2" 2>/dev/null || exit 0
  sleep ${WATCHDOG_INTERVAL_S}
done
kill -"$3" "$2" 2>/dev/null
exit 0
`

export interface WatchdogOptions {
  /** The process whose end triggers the stop (by default this one). */
  watched?: number
  /** The process to stop, e.g. a postmaster. */
  target: number
  /** SIGINT is Postgres' fast shutdown: it ends sessions and exits cleanly. */
  signal?: NodeJS.Signals
}

/**
 * Stops `target` when `watched` dies, however it dies. A child such as the embedded Postgres
 * outlives a Node process killed with SIGKILL (no handler runs, and nothing relays the signal);
 * this detached watchdog, in its own session, notices and stops it.
 */
export function stopWhenGone(options: WatchdogOptions): void {
  const watched = options.watched ?? process.pid
  const signal = (options.signal ?? 'SIGINT').replace(/^SIG/, '')
  const child = spawn(
    '/bin/sh',
    ['-c', WATCHDOG_SCRIPT, 'lakebase-watchdog', String(watched), String(options.target), signal],
    { detached: true, stdio: 'ignore' },
  )
  child.on('error', () => {})
  child.unref()
}
