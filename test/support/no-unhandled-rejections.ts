import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { afterAll, expect } from 'vitest'

// A password function that rejects inside postgres.js surfaces only as an unhandled rejection.
// While this listener is installed vitest leaves such rejections to it (it reports them only
// when it is the sole listener), so the file's last hook fails the file by name and reason;
// after that hook vitest's own listener takes over again. The reliability run also gets the count.
const seen: unknown[] = []
/** Each rejection with the test that was running when it surfaced, to find where it came from. */
const where: string[] = []
const record = (reason: unknown) => {
  seen.push(reason)
  where.push(expect.getState().currentTestName ?? '(between tests)')
}
process.on('unhandledRejection', record)

afterAll(() => {
  process.off('unhandledRejection', record)
  const artifacts = process.env.RELIABILITY_ARTIFACTS
  if (artifacts) {
    const file = basename(expect.getState().testPath ?? randomUUID())
    mkdirSync(artifacts, { recursive: true })
    writeFileSync(
      join(artifacts, `unhandled-${file}.json`),
      JSON.stringify({ file, count: seen.length, reasons: seen.map(String) }),
    )
  }
  if (seen.length > 0) {
    // The stack names where a driver's query was made (postgres.js appends its origin).
    const described = seen.map(
      (reason, i) =>
        `${String(reason)} (during "${where[i]}")${reason instanceof Error ? `\n${reason.stack?.split('\n').slice(1, 12).join('\n')}` : ''}`,
    )
    throw new Error(`unhandled rejections: ${described.join('; ')}`)
  }
})
