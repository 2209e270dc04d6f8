import type { SerializedError } from 'vitest'
import type { Reporter, TestModule } from 'vitest/node'

/** The part of a test case the summary reads (so that the summary can be tested on plain objects). */
export interface SummaryCase {
  fullName: string
  options: { mode?: string }
  parent: SummarySuite | SummaryModule
  result(): { state: string; note?: string }
}
export interface SummarySuite {
  type: 'suite'
  fullName: string
  options: { mode?: string }
  parent: SummarySuite | SummaryModule
}
export interface SummaryModule {
  type: 'module'
  relativeModuleId: string
  /** Whether the file failed outside any test: an import, a beforeAll or afterAll hook. */
  errors(): readonly unknown[]
  children: { allTests(): Iterable<SummaryCase> }
}

/**
 * The two closing lines of a run: what was skipped and why, then the counts in plain words.
 *
 * A skipped test's reason is the note given to `skip(note)`, or else the name of the outermost
 * skipped suite around it (the house style writes the reason into the name, as
 * `describe.skipIf(…)('… (skipped: why)')`), or else its own name; tests skipped for one
 * reason are counted together. A file that failed outside its tests counts as one failure, so
 * that a broken file never reads as `0 failed`.
 */
export function summarize(modules: readonly SummaryModule[], unhandledErrors = 0): string[] {
  let passed = 0
  let failed = unhandledErrors
  const skipped = new Map<string, number>()
  for (const module of modules) {
    if (module.errors().length > 0) failed += 1
    for (const test of module.children.allTests()) {
      const result = test.result()
      if (result.state === 'passed') passed += 1
      else if (result.state === 'failed') failed += 1
      else if (result.state === 'skipped') {
        const why = `${module.relativeModuleId} › ${skipReason(test, result.note)}`
        skipped.set(why, (skipped.get(why) ?? 0) + 1)
      }
    }
  }
  const count = [...skipped.values()].reduce((a, b) => a + b, 0)
  const list = [...skipped].map(([why, n]) => (n === 1 ? why : `${n} × ${why}`)).join('; ')
  return [
    count === 0 ? 'Skipped: nothing.' : `Skipped ${count}: ${list}`,
    `${passed} passed, ${failed} failed, ${count} skipped`,
  ]
}

function skipReason(test: SummaryCase, note: string | undefined): string {
  if (note) return `${test.fullName}: ${note}`
  let outermost: SummarySuite | undefined
  for (let p = test.parent; p.type === 'suite'; p = p.parent) {
    if (p.options.mode === 'skip' || p.options.mode === 'todo') outermost = p
  }
  if (outermost) return outermost.fullName
  return test.options.mode === 'todo' ? `${test.fullName} (todo)` : test.fullName
}

/**
 * Prints `summarize`'s lines after the default reporter's summary, so that `npm test` ends with
 * them.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    const lines = summarize(testModules, unhandledErrors.length)
    process.stdout.write(`\n${lines.join('\n')}\n`)
  }
}
