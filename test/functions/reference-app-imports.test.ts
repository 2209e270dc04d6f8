import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
// TypeScript 7 (the native compiler, `typescript` here) ships no JavaScript API; its parser is
// TypeScript 5's, kept for the consumers' type-check matrix.
import ts from 'typescript-5'
import { describe, expect, it } from 'vitest'

/**
 * The reference app is also the example of using the package: `functions/` and `workers/` reach
 * the rest of this repository only through the package's public entries (`lakebase-broker`,
 * `lakebase-broker/postgres`, …, its own name resolving to itself), never a relative path into
 * `shared/`, `broker/` or `cli/`. A new internal import fails here, naming the file.
 */
const root = resolve(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string
  exports: Record<string, unknown>
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
}
const ENTRIES = new Set(
  Object.keys(pkg.exports)
    .filter((e) => e !== './package.json')
    .map((e) => (e === '.' ? pkg.name : `${pkg.name}/${e.slice(2)}`)),
)
const PACKAGES = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)])

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f))
}

/** Every module a file imports or re-exports, as written (static and `import()` alike). */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true)
  return info.importedFiles.map((f) => f.fileName)
}

/** The package an import names: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier)
}

/** What is wrong with one import of `file` in `folder`, or undefined when it is allowed. */
function problem(file: string, folder: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) {
    const target = relative(root, resolve(root, dirname(file), specifier))
    return target.startsWith(folder + sep) ? undefined : `reaches into ${target}`
  }
  if (specifier.startsWith('node:') || specifier.startsWith('cloudflare:')) return undefined
  if (packageOf(specifier) === pkg.name) {
    return ENTRIES.has(specifier) ? undefined : `${specifier} is not a public entry`
  }
  return PACKAGES.has(packageOf(specifier)) ? undefined : `${specifier} is not a dependency`
}

describe('the reference app imports only the public entries', () => {
  it.each(['functions', 'workers'])(
    '%s/ imports its own files, packages and lakebase-broker/*',
    (folder) => {
      const files = filesUnder(folder)
      expect(files.length).toBeGreaterThan(1)
      const problems = files.flatMap((file) =>
        specifiers(file).flatMap((s) => {
          const p = problem(file, folder, s)
          return p ? [`${file}: ${s} (${p})`] : []
        }),
      )
      expect(problems).toEqual([])
    },
  )

  it('uses the public entries, so the check has something to check', () => {
    const used = new Set([...filesUnder('functions'), ...filesUnder('workers')].flatMap(specifiers))
    expect([...used].filter((s) => ENTRIES.has(s)).sort()).toEqual([
      'lakebase-broker',
      'lakebase-broker/functions',
      'lakebase-broker/hono',
      'lakebase-broker/postgres',
      'lakebase-broker/workspace',
    ])
  })

  it('would catch an import into shared/ (the check can fail)', () => {
    expect(problem('functions/app.ts', 'functions', '../shared/errors.js')).toBe(
      `reaches into ${join('shared', 'errors.js')}`,
    )
    expect(problem('functions/app.ts', 'functions', 'lakebase-broker/internal')).toMatch(
      /not a public entry/,
    )
    expect(problem('functions/app.ts', 'functions', 'left-pad')).toMatch(/not a dependency/)
  })
})
