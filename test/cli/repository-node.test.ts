import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../support/process.js'

const run = promisify(execFile)
/** The machine's own PATH, without this repository's node_modules/.bin that `npm test` added. */
const MACHINE_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter((dir) => !dir.includes('node_modules'))
  .join(':')
const installed = JSON.parse(
  readFileSync(join(ROOT, 'node_modules', 'node', 'package.json'), 'utf8'),
) as { version: string }

describe("the README's commands on whatever Node the machine has", () => {
  it('run the npm scripts on the Node 24 that npm installed into node_modules', async () => {
    const env = { PATH: MACHINE_PATH, HOME: process.env.HOME ?? ROOT }
    const machine = (await run('node', ['--version'], { env })).stdout.trim()
    const scripts = (
      await run('npm', ['exec', '-c', 'node --version'], { cwd: ROOT, env })
    ).stdout.trim()
    console.log(`npm runs on the machine's ${machine}; its scripts on ${scripts}`)
    expect(installed.version).toMatch(/^24\./)
    expect(scripts).toBe(`v${installed.version}`)
    // `npm start` itself, as far as its help: the command runs on that Node, from the source.
    const help = await run('npm', ['start', '--silent', '--', '--help'], { cwd: ROOT, env })
    expect(help.stdout).toMatch(/^Usage: lakebase-broker dev/m)
  })
})
