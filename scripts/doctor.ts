import { writeSync } from 'node:fs'
import { exitWith } from '../shared/exit.js'
import { doctor } from './setup/doctor.js'

doctor(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  // Synchronous: the process exits right after, and a pipe would drop buffered output.
  out: (text) => writeSync(1, `${text}\n`),
}).then(
  (code) => process.exit(code),
  (err: unknown) => exitWith(1, [`doctor: ${err instanceof Error ? err.message : String(err)}`]),
)
