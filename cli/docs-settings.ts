import { readFileSync, writeFileSync } from 'node:fs'
import { withSettingsTables } from './settings-docs.js'

// `npm run docs:settings`: rewrites the README's configuration tables from the settings'
// definitions; test/cli/settings-docs.test.ts fails while the README differs from them.
const path = new URL('../README.md', import.meta.url)
const before = readFileSync(path, 'utf8')
const after = withSettingsTables(before)
writeFileSync(path, after)
console.log(
  before === after
    ? 'README.md: settings tables up to date'
    : 'README.md: settings tables rewritten',
)
