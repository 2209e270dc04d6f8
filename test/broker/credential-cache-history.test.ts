import { afterEach, describe, expect, it } from 'vitest'
import { CREDENTIAL_HISTORY_LENGTH, CredentialCache } from '../../broker/credential-cache.js'
import { DEFAULT_REFRESH_POLICY, type RefreshPolicy } from '../../broker/refresh-schedule.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { flush, ManualClock } from '../../testing/manual-clock.js'
import { ScriptedProvider } from '../support/scripted-provider.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const policy: RefreshPolicy = { ...DEFAULT_REFRESH_POLICY, jitterFraction: 0 }

const caches: CredentialCache[] = []
afterEach(() => {
  for (const c of caches.splice(0)) c.stop()
})

function setup() {
  const clock = new ManualClock()
  const provider = new ScriptedProvider(clock)
  const cache = new CredentialCache({ target: 'default', provider, policy, clock, random: () => 0 })
  caches.push(cache)
  return { clock, provider, cache }
}

describe("the credential cache's history, for the status page's timeline", () => {
  it('keeps the issue, refresh and expiry times of the last credentials it held, oldest first, and no password', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const minted = [provider.succeed(HOUR)]
    for (let i = 0; i < CREDENTIAL_HISTORY_LENGTH + 1; i++) {
      await clock.advance(HOUR / 2)
      minted.push(provider.succeed(HOUR))
    }
    await flush()

    const { credentials } = cache.status()
    const kept = minted.slice(-CREDENTIAL_HISTORY_LENGTH)
    expect(credentials).toEqual(
      kept.map((credential, i) => ({
        ordinal: minted.length - CREDENTIAL_HISTORY_LENGTH + i + 1,
        issuedAt: credential.issuedAt.getTime(),
        refreshAt: credential.issuedAt.getTime() + HOUR / 2,
        expiresAt: credential.expiresAt.getTime(),
      })),
    )
    // The ordinal is the counter in the version clients hold (the prefix stays private).
    expect((await cache.get()).version).toMatch(new RegExp(`\\.${minted.length}$`))
    const status = JSON.stringify(cache.status())
    for (const credential of minted) expect(status).not.toContain(credential.password)
  })

  it('marks the refresh a refusal report forced, and each failure with its kind', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(HOUR)
    await clock.advance(HOUR / 2)
    provider.fail(new UpstreamError('upstream_5xx', 'the workspace answered 503'))
    await flush()
    const stale = await cache.get()

    const report = cache.refused(stale.version)
    await flush()
    provider.fail(new UpstreamError('forbidden', 'the workspace answered 403'))
    await report
    // Past the forced-refresh window (10 s), before the retry the 403 scheduled (60 s).
    await clock.advance(MINUTE / 2)
    const second = cache.refused(stale.version)
    await flush()
    provider.succeed(HOUR)
    await second

    expect(
      cache.status().history.map(({ outcome, forced, errorClass, errorKind }) => ({
        outcome,
        forced,
        errorClass,
        errorKind,
      })),
    ).toEqual([
      { outcome: 'success', forced: false, errorClass: undefined, errorKind: undefined },
      { outcome: 'failure', forced: false, errorClass: 'upstream_5xx', errorKind: 'transient' },
      { outcome: 'failure', forced: true, errorClass: 'forbidden', errorKind: 'permanent' },
      { outcome: 'success', forced: true, errorClass: undefined, errorKind: undefined },
    ])
  })

  it('does not mark the scheduled refresh after a forced one', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(HOUR)
    await flush()
    const report = cache.refused((await cache.get()).version)
    await flush()
    provider.succeed(HOUR)
    await report
    await clock.advance(HOUR / 2)
    provider.succeed(HOUR)
    await flush()
    expect(cache.status().history.map((r) => r.forced)).toEqual([false, true, false])
  })
})
