import { type Command, runIfEntry } from '../../shared/process/run-main.js'
import { DOCTOR_HELP, DOCTOR_OPTIONS, doctor } from '../setup/doctor.js'

/**
 * `lakebase-broker doctor`. It reads no settings of its own: it checks the other commands'
 * settings and reports each wrong one in its table, instead of stopping at the first.
 */
export const command: Command<Record<never, never>> = {
  name: 'doctor',
  help: DOCTOR_HELP.replace('npm run doctor [-- --dir DIR]', '$0 [--dir DIR]'),
  settings: {},
  options: DOCTOR_OPTIONS,
  async start({ args, out }) {
    return doctor(args.argv, { env: process.env, cwd: process.cwd(), out })
  },
}

runIfEntry(import.meta.url, command)
