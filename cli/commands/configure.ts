import { input, select } from '@inquirer/prompts'
import { type Command, runIfEntry } from '../../shared/process/run-main.js'
import { CONFIGURE_HELP, CONFIGURE_OPTIONS, configure } from '../setup/configure.js'

/**
 * `lakebase-broker configure`. The prompts, output and environment are the real ones here;
 * cli/setup/configure.ts takes them as arguments, so that the tests drive it in-process.
 * It reads no settings of its own: it checks the other commands' settings and reports each
 * wrong one, instead of stopping at the first.
 */
export const command: Command<Record<never, never>> = {
  name: 'configure',
  help: CONFIGURE_HELP.replace('npm run configure [-- options]', '$0 [options]'),
  settings: {},
  options: CONFIGURE_OPTIONS,
  async start({ args, out }) {
    return configure(args.argv, {
      env: process.env,
      cwd: process.cwd(),
      out,
      interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
      select: (config) => select(config),
      input: (config) => input(config),
    })
  },
}

runIfEntry(import.meta.url, command)
