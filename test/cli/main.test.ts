import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SUBCOMMANDS } from '../../cli/subcommands.js'
import { commandHelp } from '../../shared/process/run-main.js'
import { ROOT, spawnTs } from '../support/process.js'

/** Every file `entry` loads at start-up: its static imports, followed; dynamic ones are not. */
function staticImports(entry: string): Set<string> {
  const seen = new Set<string>()
  const queue = [resolve(ROOT, entry)]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (seen.has(file)) continue
    seen.add(file)
    const source = readFileSync(file, 'utf8')
    for (const match of source.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'/gm)) {
      queue.push(resolve(dirname(file), (match[1] as string).replace(/\.js$/, '.ts')))
    }
  }
  return new Set([...seen].map((f) => relative(ROOT, f)))
}

describe('lakebase-broker', () => {
  it('lists every subcommand on --help and exits 0', async () => {
    const child = spawnTs('cli/main.ts', ['--help'], {})
    expect(await child.exited).toBe(0)
    for (const name of Object.keys(SUBCOMMANDS)) {
      expect(child.output()).toMatch(new RegExp(`^  ${name} `, 'm'))
    }
  })

  it('exits 2 on an unknown subcommand, naming it', async () => {
    const child = spawnTs('cli/main.ts', ['brokr'], {})
    expect(await child.exited).toBe(2)
    expect(child.output()).toContain('no command "brokr"')
  })

  it.each(Object.keys(SUBCOMMANDS))(
    '%s has a --help listing its usage and its settings',
    async (name) => {
      const { command } = await (SUBCOMMANDS[name] as (typeof SUBCOMMANDS)[string]).load()
      const help = commandHelp(command)
      expect(help).toContain(`Usage: lakebase-broker ${name}`)
      for (const setting of Object.keys(command.settings)) expect(help).toContain(setting)
      expect(help).toContain('Exit codes: 0 done, 1 failed, 2 wrong settings or arguments.')
    },
  )

  it('prints a subcommand help from the process, exit 0', async () => {
    const child = spawnTs('cli/main.ts', ['wait', '--help'], {})
    expect(await child.exited).toBe(0)
    expect(child.output()).toContain('--timeout S')
  })

  it('exits 2 on an option a subcommand does not take', async () => {
    const child = spawnTs('cli/main.ts', ['migrate', '--frobnicate'], {})
    expect(await child.exited).toBe(2)
    expect(child.output()).toMatch(
      /^migrate: .*--frobnicate.* — fix: see `lakebase-broker migrate --help`/,
    )
  })

  it('loads no functions, configure or doctor code to run the broker', () => {
    const loaded = [...staticImports('cli/main.ts'), ...staticImports('broker/main.ts')]
    const foreign = loaded.filter(
      (f) =>
        f.startsWith('functions/') ||
        f.startsWith(join('cli', 'setup')) ||
        f.startsWith(join('cli', 'serve-functions')) ||
        f.startsWith(join('cli', 'commands')) ||
        f.includes('inquirer'),
    )
    expect(foreign).toEqual([])
    expect(loaded).toContain('broker/broker.ts')
  })
})
