import { describe, expect, it } from 'vitest'
import { requirementPlan as chromiumPlan, isCi } from '../support/requirement.js'

const missing = '/usr/bin/chromium is not installed'

describe('whether the browser tests run, skip or fail', () => {
  it.each([
    [{ CI: 'true' }, true],
    [{ CI: '1' }, true],
    [{ CI: 'TRUE' }, true],
    [{ CI: 'false' }, false],
    [{ CI: '0' }, false],
    [{ CI: '' }, false],
    [{}, false],
  ])('reads CI from %j as %s', (env, ci) => {
    expect(isCi(env)).toBe(ci)
  })

  it('runs them wherever Chromium is, CI or not', () => {
    expect(chromiumPlan(undefined, {})).toEqual({ run: 'yes' })
    expect(chromiumPlan(undefined, { CI: 'true' })).toEqual({ run: 'yes' })
  })

  it('skips them, saying why, on a machine without Chromium', () => {
    expect(chromiumPlan(missing, {})).toEqual({ run: 'skip', reason: missing })
  })

  it('fails them under CI=true without Chromium, where a skip would go unseen', () => {
    expect(chromiumPlan(missing, { CI: 'true' })).toEqual({ run: 'fail', reason: missing })
  })
})
