import { describe, expect, it } from 'vitest'
import {
  CachedTokenAuth,
  type ExpiringToken,
  WORKSPACE_TOKEN_MIN_REMAINING_MS,
  WORKSPACE_TOKEN_RETRY_MS,
} from '../../../../shared/databricks/auth/cached-token.js'
import { UpstreamError } from '../../../../shared/databricks/upstream-error.js'
import { flush, ManualClock } from '../../../../testing/manual-clock.js'
import { type Deferred, deferred } from '../../../support/deferred.js'

const HOUR_MS = 60 * 60_000

/** A token source the test answers by hand, one deferred per fetch. */
function scriptedSource(clock: ManualClock) {
  const pending: Deferred<ExpiringToken>[] = []
  let fetches = 0
  return {
    source: async () => {
      fetches++
      const answer = deferred<ExpiringToken>()
      pending.push(answer)
      return answer.promise
    },
    get fetches() {
      return fetches
    },
    /** Answers the oldest open fetch with token `name`, valid for `lifetimeMs`. */
    answer(name: string, lifetimeMs = HOUR_MS) {
      pending.shift()?.resolve({ accessToken: name, expiresAt: new Date(clock.now() + lifetimeMs) })
    },
    fail(err: unknown) {
      pending.shift()?.reject(err)
    },
  }
}

function setUp() {
  const clock = new ManualClock()
  const tokens = scriptedSource(clock)
  const auth = new CachedTokenAuth({
    method: 'oauth-m2m',
    host: 'https://workspace.test',
    source: tokens.source,
    clock,
  })
  return { clock, tokens, auth, signal: new AbortController().signal }
}

/** Token t1 held past its half-life, and the refresh behind it failed. */
async function refreshFailedBehindT1() {
  const set = setUp()
  const { clock, tokens, auth, signal } = set
  const first = auth.token(signal)
  tokens.answer('t1')
  await first
  await clock.advance(HOUR_MS / 2)
  expect((await auth.token(signal)).accessToken).toBe('t1')
  tokens.fail(new UpstreamError('upstream_5xx', 'the OAuth M2M token request failed with HTTP 503'))
  await flush()
  return set
}

describe('CachedTokenAuth', () => {
  it('reuses the token until its half-life, then fetches the next behind it, no caller waiting', async () => {
    const { clock, tokens, auth, signal } = setUp()
    const first = auth.token(signal)
    tokens.answer('t1')
    expect(await first).toEqual({ accessToken: 't1', expiresAt: new Date(clock.now() + HOUR_MS) })

    await clock.advance(HOUR_MS / 2 - 1)
    expect((await auth.token(signal)).accessToken).toBe('t1')
    expect(tokens.fetches).toBe(1)

    await clock.advance(1)
    // Past the half-life: the held token still answers at once, and the next one is on its way.
    expect((await auth.token(signal)).accessToken).toBe('t1')
    expect((await auth.token(signal)).accessToken).toBe('t1')
    expect(tokens.fetches).toBe(2)
    tokens.answer('t2')
    await flush()
    expect((await auth.token(signal)).accessToken).toBe('t2')
    expect(tokens.fetches).toBe(2)
  })

  it('keeps serving the held token through failed refreshes, trying again at a stated interval', async () => {
    const { clock, tokens, auth, signal } = await refreshFailedBehindT1()

    await clock.advance(WORKSPACE_TOKEN_RETRY_MS - 1)
    expect((await auth.token(signal)).accessToken).toBe('t1')
    expect(tokens.fetches).toBe(2)
    await clock.advance(1)
    expect((await auth.token(signal)).accessToken).toBe('t1')
    expect(tokens.fetches).toBe(3)
    tokens.answer('t2')
    await flush()
    expect((await auth.token(signal)).accessToken).toBe('t2')
  })

  it('makes callers wait for a new token once the held one is in its last minute', async () => {
    const { clock, tokens, auth, signal } = await refreshFailedBehindT1()

    await clock.advance(HOUR_MS / 2 - WORKSPACE_TOKEN_MIN_REMAINING_MS)
    let settled = false
    const waiting = auth.token(signal).finally(() => {
      settled = true
    })
    await flush()
    expect(settled).toBe(false)
    tokens.answer('t2')
    expect((await waiting).accessToken).toBe('t2')
  })

  it('keeps a short-lived token for half its life rather than refetching on every call', async () => {
    const { clock, tokens, auth, signal } = setUp()
    const first = auth.token(signal)
    tokens.answer('short', 20_000)
    await first
    await clock.advance(9_999)
    expect((await auth.token(signal)).accessToken).toBe('short')
    expect(tokens.fetches).toBe(1)
    await clock.advance(1)
    expect((await auth.token(signal)).accessToken).toBe('short')
    tokens.answer('next', 20_000)
    await flush()
    expect((await auth.token(signal)).accessToken).toBe('next')
    expect(tokens.fetches).toBe(2)
  })

  it('shares one fetch among concurrent callers', async () => {
    const { tokens, auth, signal } = setUp()
    const callers = [auth.token(signal), auth.token(signal), auth.token(signal)]
    tokens.answer('shared')
    const results = await Promise.all(callers)
    expect(results.map((r) => r.accessToken)).toEqual(['shared', 'shared', 'shared'])
    expect(tokens.fetches).toBe(1)
  })

  it('does not remember a failure: the next call fetches again', async () => {
    const { tokens, auth, signal } = setUp()
    const failing = auth.token(signal)
    tokens.fail(
      new UpstreamError('upstream_5xx', 'the OAuth M2M token request failed with HTTP 500'),
    )
    await expect(failing).rejects.toMatchObject({ errorClass: 'upstream_5xx' })

    const retry = auth.token(signal)
    tokens.answer('recovered')
    expect((await retry).accessToken).toBe('recovered')
    expect(tokens.fetches).toBe(2)
  })

  it('lets one caller give up without failing the others or the fetch', async () => {
    const { tokens, auth } = setUp()
    const impatient = new AbortController()
    const first = auth.token(impatient.signal)
    const second = auth.token(new AbortController().signal)
    impatient.abort()
    await expect(first).rejects.toMatchObject({ errorClass: 'timeout' })
    tokens.answer('t1')
    expect((await second).accessToken).toBe('t1')
    expect((await auth.token(new AbortController().signal)).accessToken).toBe('t1')
    expect(tokens.fetches).toBe(1)
  })

  it('refuses a token that is already expired when it arrives', async () => {
    const { tokens, auth, signal } = setUp()
    const call = auth.token(signal)
    tokens.answer('stale', 0)
    await expect(call).rejects.toMatchObject({
      errorClass: 'unauthorized',
      message: 'oauth-m2m returned a workspace token that has already expired',
    })
  })

  it('wraps a non-UpstreamError failure as a UpstreamError', async () => {
    const { tokens, auth, signal } = setUp()
    const call = auth.token(signal)
    tokens.fail(new TypeError('fetch failed'))
    await expect(call).rejects.toMatchObject({ name: 'UpstreamError', errorClass: 'network' })
  })
})
