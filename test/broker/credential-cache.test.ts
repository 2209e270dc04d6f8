import { afterEach, describe, expect, it } from 'vitest'
import {
  CredentialCache,
  CredentialUnavailableError,
  DEFAULT_FETCH_TIMEOUT_MS,
  MIN_DEMAND_FETCH_INTERVAL_MS,
  PERMANENT_DEMAND_FETCH_INTERVAL_MS,
} from '../../broker/credential-cache.js'
import { DEFAULT_REFRESH_POLICY, type RefreshPolicy } from '../../broker/refresh-schedule.js'
import { MAX_TIMER_MS } from '../../shared/client/clock.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { flush, ManualClock } from '../../testing/manual-clock.js'
import { rejectionOf } from '../support/kit.js'
import { ScriptedProvider } from '../support/scripted-provider.js'

const S = 1000
const HOUR = 3600 * S
const policy: RefreshPolicy = { ...DEFAULT_REFRESH_POLICY, jitterFraction: 0 }

function setup(p: RefreshPolicy = policy) {
  const clock = new ManualClock()
  const provider = new ScriptedProvider(clock)
  const cache = new CredentialCache({
    target: 'default',
    provider,
    policy: p,
    clock,
    random: () => 0,
  })
  caches.push(cache)
  return { clock, provider, cache }
}
const caches: CredentialCache[] = []
afterEach(() => {
  for (const c of caches.splice(0)) c.stop()
})

describe('CredentialCache', () => {
  it('answers 1000 concurrent cold requests with one upstream call', async () => {
    const { provider, cache } = setup()
    const requests = Array.from({ length: 1000 }, () => cache.get())
    await flush()
    expect(provider.calls).toBe(1)
    const credential = provider.succeed(HOUR)
    const results = await Promise.all(requests)
    expect(provider.calls).toBe(1)
    expect(new Set(results.map((r) => r.credential.password))).toEqual(
      new Set([credential.password]),
    )
  })

  it('serves from the cache without calling upstream again before the refresh point', async () => {
    const { clock, provider, cache } = setup()
    const first = cache.get()
    await flush()
    provider.succeed(HOUR)
    await first
    await clock.advance(29 * 60 * S)
    const again = await cache.get()
    expect(provider.calls).toBe(1)
    expect(again.stale).toBe(false)
  })

  it('refreshes in the background at half the lifetime with no client asking', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(20 * S)
    await clock.advance(4999)
    expect(provider.calls).toBe(1)
    await clock.advance(1)
    expect(provider.calls).toBe(2)
    const next = provider.succeed(20 * S)
    await flush()
    expect((await cache.get()).credential.password).toBe(next.password)
  })

  it('refreshes a 20-second credential with a 2 s minimum TTL at half its life', async () => {
    const { clock, provider, cache } = setup({ ...policy, minTtlMs: 2 * S })
    cache.start()
    await flush()
    provider.succeed(20 * S)
    await clock.advance(10 * S - 1)
    expect(provider.calls).toBe(1)
    await clock.advance(1)
    expect(provider.calls).toBe(2)
  })

  it('keeps serving the last good credential through a failed refresh, flagged stale', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const good = provider.succeed(HOUR)
    await clock.advance(30 * 60 * S)
    provider.fail(
      new UpstreamError('upstream_5xx', 'the workspace answered 500', { upstreamStatus: 500 }),
    )
    await flush()
    const served = await cache.get()
    expect(served.credential.password).toBe(good.password)
    expect(served.stale).toBe(true)
    expect(cache.status()).toMatchObject({
      valid: true,
      stale: true,
      consecutiveFailures: 1,
      lastError: { errorClass: 'upstream_5xx', upstreamStatus: 500, kind: 'transient' },
    })
  })

  it('never hands out a credential inside its minimum TTL, even while upstream is down', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(20 * S)
    const failAll = async () => {
      while (provider.pending.length > 0) provider.fail(new UpstreamError('upstream_5xx', '500'))
      await flush()
    }
    await clock.advance(5 * S - 1)
    expect((await cache.get()).stale).toBe(false)
    await clock.advance(1)
    await failAll()
    const err = await rejectionOf(cache.get(), CredentialUnavailableError)
    expect(err.lastError?.errorClass).toBe('upstream_5xx')
  })

  it('never serves an expired credential after the process slept through its timers', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const old = provider.succeed(HOUR)
    await flush()
    clock.jump(2 * HOUR)
    const request = cache.get()
    await flush()
    expect(provider.calls).toBe(2)
    const fresh = provider.succeed(HOUR)
    const served = await request
    expect(served.credential.password).toBe(fresh.password)
    expect(served.credential.password).not.toBe(old.password)
  })

  it('catches up on a missed refresh when read after a suspension, while still serving', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const old = provider.succeed(HOUR)
    await flush()
    clock.jump(40 * 60 * S)
    const served = await cache.get()
    expect(served.credential.password).toBe(old.password)
    expect(provider.calls).toBe(2)
  })

  it('never serves a credential that ran out while the wall clock was set back', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(HOUR)
    await clock.advance(HOUR)
    while (provider.pending.length > 0) provider.fail(new UpstreamError('upstream_5xx', '500'))
    await flush()
    clock.jumpBack(HOUR)
    expect(cache.status().valid).toBe(false)
    const request = rejectionOf(cache.get(), CredentialUnavailableError)
    await flush()
    provider.fail(new UpstreamError('upstream_5xx', '500'))
    await request
  })

  it('refreshes after the time it planned to wait, even if the wall clock was set back', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(HOUR)
    await clock.advance(10 * 60 * S)
    clock.jumpBack(HOUR)
    await clock.advance(20 * 60 * S - 1)
    expect(provider.calls).toBe(1)
    await clock.advance(1)
    expect(provider.calls).toBe(2)
  })

  it('does not cache a rejection: the next request after a failure asks upstream again', async () => {
    const { clock, provider, cache } = setup()
    const first = cache.get()
    await flush()
    provider.fail(new UpstreamError('network', 'connection reset'))
    await rejectionOf(first, CredentialUnavailableError)
    clock.jump(MIN_DEMAND_FETCH_INTERVAL_MS)
    const second = cache.get()
    await flush()
    expect(provider.calls).toBe(2)
    provider.succeed(HOUR)
    expect((await second).stale).toBe(false)
  })

  it('releases its target at the fetch deadline when the provider ignores its signal, and drops the late answer', async () => {
    const { clock, provider, cache } = setup()
    // The scripted provider never looks at its signal: it answers when the test says, or never.
    const first = rejectionOf(cache.get(), CredentialUnavailableError)
    await flush()
    expect(provider.calls).toBe(1)
    await clock.advance(DEFAULT_FETCH_TIMEOUT_MS - 1)
    expect(cache.status().lastError).toBeUndefined()
    await clock.advance(1)
    expect((await first).lastError?.errorClass).toBe('timeout')
    // The target is free again: the next demand asks anew, and that answer is served.
    clock.jump(MIN_DEMAND_FETCH_INTERVAL_MS)
    const second = cache.get()
    await flush()
    expect(provider.calls).toBe(2)
    provider.succeed(HOUR) // the first fetch's late answer (the oldest pending): discarded
    const served = provider.succeed(HOUR)
    expect((await second).credential.password).toBe(served.password)
    expect((await cache.get()).credential.password).toBe(served.password)
  })

  it('rate-limits demand fetches while nothing valid is held', async () => {
    const { clock, provider, cache } = setup()
    const first = cache.get()
    await flush()
    provider.fail(new UpstreamError('network', 'connection reset'))
    await rejectionOf(first, CredentialUnavailableError)
    clock.jump(MIN_DEMAND_FETCH_INTERVAL_MS - 1)
    const err = await rejectionOf(cache.get(), CredentialUnavailableError)
    expect(provider.calls).toBe(1)
    expect(err.retryAfterS).toBe(1)
  })

  it('honours Retry-After from a 429 for background and demand attempts', async () => {
    const { clock, provider, cache } = setup()
    const first = cache.get()
    await flush()
    provider.fail(
      new UpstreamError('rate_limited', '429', { upstreamStatus: 429, retryAfterMs: 7 * S }),
    )
    await rejectionOf(first, CredentialUnavailableError)
    clock.jump(6 * S)
    const early = await rejectionOf(cache.get(), CredentialUnavailableError)
    expect(early.retryAfterS).toBe(1)
    expect(provider.calls).toBe(1)
    expect(clock.nextTimerAt()).toBeGreaterThanOrEqual(clock.now() - 6 * S + 7 * S)
    await clock.advance(1 * S)
    expect(provider.calls).toBe(2)
  })

  it('keeps serving a valid credential through a permanent failure, stale, until it expires', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const held = provider.succeed(HOUR)
    await clock.advance(30 * 60 * S)
    provider.fail(
      new UpstreamError('forbidden', 'permission denied', {
        upstreamStatus: 403,
        upstreamErrorCode: 'PERMISSION_DENIED',
      }),
    )
    await flush()
    // Postgres checks a token only at login: the held one still works, and is served, saying so.
    const served = await cache.get()
    expect(served).toMatchObject({
      stale: true,
      upstreamError: { errorClass: 'forbidden', kind: 'permanent', message: 'permission denied' },
    })
    expect(served.upstreamError?.fix).toMatch(/grant/)
    expect(served.credential.password).toBe(held.password)
    expect(cache.status().lastError).toMatchObject({
      upstreamStatus: 403,
      upstreamErrorCode: 'PERMISSION_DENIED',
      kind: 'permanent',
      fix: served.upstreamError?.fix,
    })
    expect(provider.calls).toBe(2)
    // Once it expires there is nothing to serve: the demand asks upstream, refused again → 503.
    clock.jump(HOUR)
    const expired = rejectionOf(cache.get(), CredentialUnavailableError)
    await flush()
    while (provider.pending.length > 0) {
      provider.fail(new UpstreamError('forbidden', 'permission denied', { upstreamStatus: 403 }))
    }
    const err = await expired
    expect(err.lastError).toMatchObject({ upstreamStatus: 403, kind: 'permanent' })
    expect(err.retryAfterS).toBe(PERMANENT_DEMAND_FETCH_INTERVAL_MS / S)
  })

  it('recovers by itself through background retries once upstream answers again', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.fail(new UpstreamError('upstream_5xx', '500'))
    await flush()
    expect(cache.status().valid).toBe(false)
    await clock.advance(1 * S)
    expect(provider.calls).toBe(2)
    provider.succeed(HOUR)
    await flush()
    expect(cache.status()).toMatchObject({ valid: true, stale: false, consecutiveFailures: 0 })
  })

  it('rejects a credential that arrives with less than the minimum TTL left', async () => {
    const { provider, cache } = setup()
    const request = cache.get()
    await flush()
    provider.succeed(10 * S)
    const err = await rejectionOf(request, CredentialUnavailableError)
    expect(err.lastError?.errorClass).toBe('malformed_response')
  })

  it('arms no timer longer than Node allows for a credential that lives for months', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    provider.succeed(200 * 24 * HOUR)
    await flush()
    expect(clock.delays.length).toBeGreaterThan(0)
    expect(Math.max(...clock.delays)).toBeLessThanOrEqual(MAX_TIMER_MS)
    await clock.advance(MAX_TIMER_MS + 1)
    expect(provider.calls).toBe(1)
  })

  it('records refresh outcomes in its history without any password', async () => {
    const { clock, provider, cache } = setup()
    cache.start()
    await flush()
    const credential = provider.succeed(HOUR)
    await clock.advance(30 * 60 * S)
    provider.fail(new UpstreamError('timeout', 'timed out'))
    await flush()
    const status = cache.status()
    expect(status.history.map((h) => h.outcome)).toEqual(['success', 'failure'])
    expect(JSON.stringify(status)).not.toContain(credential.password)
  })
})
