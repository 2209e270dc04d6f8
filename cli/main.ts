#!/usr/bin/env node
import { writeSync } from 'node:fs'
import { exitWith } from '../shared/process/exit.js'
import { EXIT_CONFIG, runMain } from '../shared/process/run-main.js'
import { mainHelp, SUBCOMMANDS } from './subcommands.js'

const [name, ...rest] = process.argv.slice(2)
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  writeSync(1, `${mainHelp()}\n`)
  process.exit(name === undefined ? EXIT_CONFIG : 0)
}
const subcommand = SUBCOMMANDS[name]
if (subcommand === undefined) {
  exitWith(EXIT_CONFIG, [`lakebase-broker: no command "${name}"`, '', mainHelp()])
}
runMain(async () => (await subcommand.load()).command, {
  argv: rest,
  invokedAs: `lakebase-broker ${name}`,
})
