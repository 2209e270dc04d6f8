import { writeSync } from 'node:fs'

/**
 * Prints `lines` to stderr and exits. Written synchronously: `console.error` to a pipe is
 * asynchronous in Node, and `process.exit` right after it can drop the very message that says
 * why the command failed.
 */
export function exitWith(code: number, lines: string[]): never {
  if (lines.length > 0) writeSync(2, `${lines.join('\n')}\n`)
  process.exit(code)
}
