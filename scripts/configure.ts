import { writeSync } from 'node:fs'
import { input, select } from '@inquirer/prompts'
import { exitWith } from '../shared/exit.js'
import { configure } from './setup/configure.js'

// The prompts, output and environment are the real ones here; scripts/setup/configure.ts takes
// them as arguments, so that the tests drive it in-process.
configure(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  // Synchronous: the process exits right after, and a pipe would drop buffered output.
  out: (text) => writeSync(1, `${text}\n`),
  interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
  select: (config) => select(config),
  input: (config) => input(config),
}).then(
  (code) => process.exit(code),
  (err: unknown) => exitWith(1, [`configure: ${err instanceof Error ? err.message : String(err)}`]),
)
