import { describe, it } from 'vitest'

/** Whether `CI` is set the way CI services set it (`true`, `1`); `false` and `0` are not CI. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI?.trim().toLowerCase()
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0'
}

/**
 * What to do with tests that need a program from the system (Chromium, PgBouncer): run them;
 * skip them, saying why, on a machine without it; or, under CI, where a skip would pass unseen,
 * fail for want of it.
 */
export function requirementPlan(
  missing: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { run: 'yes' } | { run: 'skip' | 'fail'; reason: string } {
  if (missing === undefined) return { run: 'yes' }
  return { run: isCi(env) ? 'fail' : 'skip', reason: missing }
}

/**
 * `describe` for tests that need what `missing` names when it is absent: skipped, with the
 * reason in the suite's name and a warning; under CI=true, one failing test naming it.
 */
export function describeRequiring(
  missing: string | undefined,
  name: string,
  suite: () => void,
): void {
  const plan = requirementPlan(missing)
  if (plan.run === 'yes') {
    describe(name, suite)
  } else if (plan.run === 'skip') {
    console.warn(`tests skipped: ${plan.reason}`)
    describe.skip(`${name} (SKIPPED: ${plan.reason})`, suite)
  } else {
    describe(name, () => {
      it('has what it needs to run (CI=true: these tests may not be skipped)', () => {
        throw new Error(`CI=true and ${plan.reason}`)
      })
    })
  }
}
