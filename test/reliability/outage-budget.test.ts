import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, resolveBrokerConfig } from '../../broker/config.js'
import { DEFAULT_MIN_TTL_MS } from '../../broker/refresh-schedule.js'
import { onUnhandled } from '../../testing/unhandled.js'
import { waitFor } from '../support/wait-for.js'
import { injectFault } from '../testing/workspace/index.js'
import { type FaultyBroker, loopbackPassesThrough, startFaultyBroker } from './harness.js'
import { recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * `BROKER_OUTAGE_BUDGET_S`: how long an upstream outage must be survived. It moves each
 * credential's refresh point early enough that a refresh failing there still leaves the budget
 * before the credential runs out, and the broker warns when a credential is too short for it.
 */
const S = 1_000
const MIN = 60 * S
const HOUR = 60 * MIN
const BUDGET_S = 45 * 60

const server = setupServer()
beforeAll(() => server.listen(onUnhandled(loopbackPassesThrough)))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const secrets = trackSecrets('outage-budget')
const running: FaultyBroker[] = []
afterEach(async () => {
  for (const broker of running.splice(0)) await broker.close()
})
async function start(env: Record<string, string>) {
  const broker = await startFaultyBroker({ server, secrets, env })
  running.push(broker)
  return broker
}

/**
 * An outage that starts at the credential's refresh point: how long, on the clock, every
 * request is still answered with a valid credential (checked each minute).
 */
async function survivedOutage(b: FaultyBroker): Promise<number> {
  const first = await b.credential()
  const refreshAt = Date.parse(first.refreshAt)
  injectFault(b, 'server-error', { calls: 'outage' })
  await b.clock.advance(refreshAt - b.clock.now())
  await waitFor(() => b.cache.status().lastError !== undefined, { what: 'the refresh fails' })
  for (;;) {
    const answer = await b.get()
    if (!answer.ok) return b.clock.now() - refreshAt
    expect(Date.parse(answer.body.expiresAt) - b.clock.now()).toBeGreaterThan(DEFAULT_MIN_TTL_MS)
    await b.clock.advance(MIN)
  }
}

describe('BROKER_OUTAGE_BUDGET_S', () => {
  it('is read in seconds, optional, and never negative', () => {
    const env = { LAKEBASE_PROVIDER: 'static', PGUSER: 'u', PGPASSWORD: 'p' }
    expect(resolveBrokerConfig(env).policy.outageBudgetMs).toBeUndefined()
    expect(
      resolveBrokerConfig({ ...env, BROKER_OUTAGE_BUDGET_S: '2700' }).policy.outageBudgetMs,
    ).toBe(2_700_000)
    expect(() => resolveBrokerConfig({ ...env, BROKER_OUTAGE_BUDGET_S: '-1' })).toThrow(ConfigError)
  })

  it('makes a 1-hour token ride out a 45-minute outage that half its life would not', async () => {
    const budgeted = await start({ BROKER_OUTAGE_BUDGET_S: String(BUDGET_S) })
    const withBudget = await survivedOutage(budgeted)
    expect(withBudget).toBeGreaterThanOrEqual(BUDGET_S * S)

    const plain = await start({})
    const withoutBudget = await survivedOutage(plain)
    expect(withoutBudget).toBeLessThan(BUDGET_S * S)
    expect(withoutBudget).toBeGreaterThanOrEqual(HOUR / 2 - DEFAULT_MIN_TTL_MS - MIN)
    expect(budgeted.logs()).not.toContain('too short for BROKER_OUTAGE_BUDGET_S')
    recordFigures('outage-budget', {
      budgetS: BUDGET_S,
      survivedWithBudgetS: withBudget / S,
      survivedWithoutBudgetS: withoutBudget / S,
    })
  })

  it('warns, naming what can be survived, when a credential is too short for the budget', async () => {
    const b = await start({ BROKER_OUTAGE_BUDGET_S: String(55 * 60) })
    await waitFor(() => b.logs().includes('too short'), { what: 'the warning is logged' })
    const line =
      b
        .logs()
        .split('\n')
        .find((l) => l.includes('too short')) ?? ''
    const warning = JSON.parse(line) as Record<string, unknown>
    expect(warning).toMatchObject({
      level: 40,
      target: 'default',
      outageBudgetS: 55 * 60,
      survivableOutageS: 0.9 * 3600 - DEFAULT_MIN_TTL_MS / S,
    })
    recordFigures('outage-budget', { warned: true })
  })
})
