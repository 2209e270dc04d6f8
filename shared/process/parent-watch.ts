/**
 * How often the parent is checked. A check is one system call; a second is well inside the
 * "within a few seconds" a killed terminal's leftovers may live.
 */
export const PARENT_CHECK_INTERVAL_MS = 1_000

/**
 * Calls `onGone` once when this process's parent has gone (its parent pid changes: the process
 * was handed to init or a subreaper). A SIGKILL of the parent cannot be caught by it, nor relayed
 * to its children; noticing the new parent pid is how a child learns of it. The timer never
 * keeps the process alive by itself.
 */
export function watchParent(
  onGone: () => void,
  intervalMs: number = PARENT_CHECK_INTERVAL_MS,
): () => void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    onGone()
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
