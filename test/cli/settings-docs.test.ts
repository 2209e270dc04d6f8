import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { README_TABLES, withSettingsTables } from '../../cli/settings-docs.js'
import { SUBCOMMANDS } from '../../cli/subcommands.js'
import { settingsOf } from '../../shared/process/run-main.js'
import { ROOT } from '../support/process.js'

describe("the README's configuration tables", () => {
  it('are exactly what the settings definitions write (run `npm run docs:settings` to update)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    expect(withSettingsTables(readme)).toBe(readme)
  })

  it('document every setting of every command', async () => {
    const documented = new Set(Object.values(README_TABLES).flatMap((t) => Object.keys(t)))
    for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
      const { command } = await sub.load()
      const missing = Object.keys(settingsOf(command)).filter((s) => !documented.has(s))
      expect({ command: name, missing }).toEqual({ command: name, missing: [] })
    }
  })
})
