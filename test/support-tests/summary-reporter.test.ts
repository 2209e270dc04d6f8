import { describe, expect, it } from 'vitest'
import {
  type SummaryCase,
  type SummaryModule,
  type SummarySuite,
  summarize,
} from '../support/summary-reporter.js'

/** A file of tests: `[name, state, mode?, note?]`, optionally inside one suite. */
function file(
  path: string,
  tests: Array<[string, string, string?, string?]>,
  options: { suite?: { name: string; mode?: string }; errors?: number } = {},
): SummaryModule {
  const module: SummaryModule = {
    type: 'module',
    relativeModuleId: path,
    errors: () => Array.from({ length: options.errors ?? 0 }, () => new Error('in a hook')),
    children: { allTests: () => cases },
  }
  const suite: SummarySuite | undefined = options.suite && {
    type: 'suite',
    fullName: options.suite.name,
    options: { mode: options.suite.mode },
    parent: module,
  }
  const cases: SummaryCase[] = tests.map(([name, state, mode, note]) => ({
    fullName: suite ? `${suite.fullName} > ${name}` : name,
    options: { mode },
    parent: suite ?? module,
    result: () => ({ state, note }),
  }))
  return module
}

describe('the closing summary', () => {
  it('counts passed, failed and skipped tests in a plain line', () => {
    const lines = summarize([
      file('test/a.test.ts', [
        ['works', 'passed'],
        ['also works', 'passed'],
        ['breaks', 'failed'],
      ]),
    ])
    expect(lines.at(-1)).toBe('2 passed, 1 failed, 0 skipped')
    expect(lines[0]).toBe('Skipped: nothing.')
  })

  it("gives a skipped suite's name as the reason of its tests, counted together", () => {
    const lines = summarize([
      file(
        'test/browser/page.test.ts',
        [
          ['renders', 'skipped', 'skip'],
          ['clicks', 'skipped', 'skip'],
        ],
        {
          suite: {
            name: 'the page in Chromium (skipped: chromium is not installed)',
            mode: 'skip',
          },
        },
      ),
    ])
    expect(lines).toEqual([
      'Skipped 2: 2 × test/browser/page.test.ts › the page in Chromium (skipped: chromium is not installed)',
      '0 passed, 0 failed, 2 skipped',
    ])
  })

  it("gives the note of skip(note), or else the test's own name", () => {
    const lines = summarize([
      file('test/b.test.ts', [
        ['needs a workspace', 'skipped', 'run', 'DATABRICKS_HOST is not set'],
        ['later', 'skipped', 'todo'],
        ['runs', 'passed'],
      ]),
    ])
    expect(lines[0]).toBe(
      'Skipped 2: test/b.test.ts › needs a workspace: DATABRICKS_HOST is not set; test/b.test.ts › later (todo)',
    )
    expect(lines[1]).toBe('1 passed, 0 failed, 2 skipped')
  })

  it('counts a file that failed outside its tests, and unhandled errors, as failures', () => {
    const lines = summarize([file('test/c.test.ts', [['runs', 'passed']], { errors: 1 })], 2)
    expect(lines.at(-1)).toBe('1 passed, 3 failed, 0 skipped')
  })
})
