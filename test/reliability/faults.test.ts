import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PERMANENT_RETRY_MS, RETRY_MAX_MS } from '../../broker/backoff.js'
import { PERMANENT_DEMAND_FETCH_INTERVAL_MS } from '../../broker/credential-cache.js'
import { DEFAULT_MIN_TTL_MS } from '../../broker/refresh-schedule.js'
import type { Credential } from '../../shared/client/credential.js'
import type { ErrorClass } from '../../shared/databricks/upstream-error.js'
import { WORKSPACE_CALL_TIMEOUT_MS } from '../../shared/databricks/workspace-http.js'
import { onUnhandled } from '../../testing/unhandled.js'
import { writeCliStub } from '../support/cli-stub.js'
import { waitFor } from '../support/wait-for.js'
import {
  DEFAULT_RETRY_AFTER_S,
  FAULT_KINDS,
  FAULTS,
  type FaultKind,
  injectFault,
  ManualClock,
} from '../testing/workspace/index.js'
import {
  type BrokerAnswer,
  type FaultyBroker,
  loopbackPassesThrough,
  startFaultyBroker,
} from './harness.js'
import { recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * Each fault in the kit's catalogue, against a real broker (in this process, over loopback
 * HTTP) on a manual clock, with 1-hour tokens refreshed at half their life: the broker keeps the
 * contract — the last good credential while it is valid (flagged stale), whatever the error,
 * never an expired one, the upstream code where people look, and recovery by itself.
 */
const S = 1_000
const MIN = 60 * S
const LIFETIME_MS = 60 * MIN
/** No jitter (random is 0): the refresh point is exactly half the lifetime. */
const REFRESH_AFTER_MS = LIFETIME_MS / 2

const server = setupServer()
beforeAll(() => server.listen(onUnhandled(loopbackPassesThrough)))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const secrets = trackSecrets('faults')
const survived = new Set<FaultKind>()
afterAll(() =>
  recordFigures('faults', { kinds: [...FAULT_KINDS], survived: [...survived], permanentWindow }),
)

const running: FaultyBroker[] = []
afterEach(async () => {
  for (const broker of running.splice(0)) await broker.close()
})

async function start(
  options: { clock?: ManualClock; env?: Record<string, string>; acceptedTokens?: string[] } = {},
): Promise<FaultyBroker> {
  const broker = await startFaultyBroker({ server, secrets, ...options })
  running.push(broker)
  return broker
}

/** The rule that never bends: what is served is valid, by the broker's clock and the world's. */
function expectServable(b: FaultyBroker, served: Credential): void {
  expect(Date.parse(served.expiresAt) - b.clock.now()).toBeGreaterThan(DEFAULT_MIN_TTL_MS)
  const minted = b.workspace.credentials.find((c) => c.token === served.password)
  expect(minted, 'the served password is one the workspace minted').toBeDefined()
  const worldLeft = (minted?.expiresAt.getTime() ?? 0) - b.clock.worldNow()
  expect(worldLeft, 'time left on the served token, in the world’s time').toBeGreaterThan(
    DEFAULT_MIN_TTL_MS,
  )
}

/**
 * A request that may wait on an upstream call. A servable credential is answered from the cache,
 * with the clock still; otherwise, whenever the workspace holds the broker's call on the clock,
 * the clock moves on in 1 s steps (a hung call ends at the workspace call timeout, on that clock).
 */
async function getWhileTimePasses(b: FaultyBroker): Promise<BrokerAnswer> {
  if (b.cache.status().valid) return b.get()
  let answer: BrokerAnswer | undefined
  const pending = b.get().then((a) => {
    answer = a
  })
  for (let waited = 0; ; waited += S) {
    await waitFor(() => answer !== undefined || b.upstreamOnClock(), {
      what: 'the broker answers, or waits on an upstream call held on the clock',
    })
    if (answer !== undefined) break
    if (waited > WORKSPACE_CALL_TIMEOUT_MS * 2) throw new Error('the broker did not answer')
    await b.clock.advance(S)
  }
  await pending
  return answer
}

function expectRefusal(answer: BrokerAnswer) {
  if (answer.ok) return expect.fail(`expected a refusal, got ${answer.body.expiresAt}`)
  expect(answer.status).toBe(503)
  expect(answer.retryAfter).toBe(String(answer.body.detail.retry_after))
  return answer.body.detail
}

interface TransientExpectation {
  errorClass: ErrorClass
  /** The Retry-After the workspace sends, which backs off every attempt. */
  retryAfterS?: number
}

/**
 * The workspace fails every call from the refresh point on: the held credential is served,
 * flagged stale, until its last servable moment and not a minute after; then 503 with the cause;
 * once the workspace is back, the broker recovers with no client asking.
 */
async function ridesOutTransientOutage(kind: FaultKind, expected: TransientExpectation) {
  const info = FAULTS[kind]
  const b = await start()
  const first = await b.credential()
  expect(first.stale).toBe(false)
  const serveUntil = Date.parse(first.expiresAt) - DEFAULT_MIN_TTL_MS

  injectFault(b, kind, { calls: 'outage' })
  const callsBefore = b.workspace.calls.databaseCredentials
  await b.clock.advance(REFRESH_AFTER_MS)
  await b.advanceUntil(
    () => b.cache.status().lastError !== undefined,
    'the failed refresh',
    WORKSPACE_CALL_TIMEOUT_MS + S,
  )
  expect(b.cache.status().lastError).toMatchObject({
    errorClass: expected.errorClass,
    kind: 'transient',
    ...(info.upstreamStatus === undefined ? {} : { upstreamStatus: info.upstreamStatus }),
  })
  const stale = await b.credential()
  expect(stale).toMatchObject({ password: first.password, stale: true })
  const ready = await b.readiness()
  expect(ready.targets[0]?.last_error).toMatchObject({ error_class: expected.errorClass })

  let refused: BrokerAnswer | undefined
  let refusedAt = 0
  while (refused === undefined) {
    await b.clock.advance(MIN)
    const askedAt = b.clock.now()
    const answer = await getWhileTimePasses(b)
    if (answer.ok) {
      const served = answer.body
      expect(askedAt).toBeLessThan(serveUntil)
      expect(served).toMatchObject({ password: first.password, stale: true })
      expectServable(b, served)
    } else {
      refused = answer
      refusedAt = askedAt
    }
  }
  // Served to the end of its life, and refused within one step of it.
  expect(refusedAt).toBeGreaterThanOrEqual(serveUntil)
  expect(refusedAt - serveUntil).toBeLessThan(MIN)
  const detail = expectRefusal(refused)
  expect(detail.error_code).toBe('CREDENTIAL_UNAVAILABLE')
  expect(detail.retry_after).toBeGreaterThanOrEqual(1)
  expect(detail.technical_details).toMatchObject({
    error_class: expected.errorClass,
    failure_kind: 'transient',
    ...(info.upstreamStatus === undefined
      ? {}
      : { upstream_status: info.upstreamStatus, upstream_error_code: info.upstreamErrorCode }),
  })
  // Backoff, not a request storm: no attempt sooner than the Retry-After, none of them faster
  // than the capped backoff (15 s with no jitter) once it has grown.
  const attempts = b.workspace.calls.databaseCredentials - callsBefore
  const outageMs = refusedAt - Date.parse(first.refreshAt)
  const floorMs = Math.max((expected.retryAfterS ?? 0) * S, RETRY_MAX_MS / 2)
  expect(attempts).toBeLessThanOrEqual(Math.ceil(outageMs / floorMs) + 10)

  b.workspace.unscript('databaseCredentials')
  await b.advanceUntil(
    () => b.cache.status().valid,
    'recovery with no client asking',
    RETRY_MAX_MS + WORKSPACE_CALL_TIMEOUT_MS + (expected.retryAfterS ?? 0) * S,
  )
  const fresh = await b.credential()
  expect(fresh.stale).toBe(false)
  expect(fresh.password).not.toBe(first.password)
  expectServable(b, fresh)
  expect((await b.readiness()).ready).toBe(true)
}

/**
 * Access is revoked upstream (401, 403, 404): the credential in hand still logs in (Postgres checks
 * a token only at login), so it is served, flagged stale, with the upstream status and code on the
 * readiness body, until its last servable moment; upstream is probed only slowly meanwhile, a crowd
 * of callers asking nothing of it; after expiry, 503 with the upstream status and code. Once access
 * is restored, the broker recovers by itself. A cold start says why at once.
 */
async function surfacesPermanentError(kind: FaultKind) {
  const info = FAULTS[kind]
  const b = await start()
  const first = await b.credential()
  const serveUntil = Date.parse(first.expiresAt) - DEFAULT_MIN_TTL_MS
  injectFault(b, kind, { calls: 'outage' })
  await b.clock.advance(REFRESH_AFTER_MS)
  await waitFor(() => b.cache.status().lastError !== undefined, { what: 'the refresh fails' })
  expect(b.cache.status().lastError).toMatchObject({
    kind: 'permanent',
    upstreamStatus: info.upstreamStatus,
    upstreamErrorCode: info.upstreamErrorCode,
  })
  const callsAfterFailure = b.workspace.calls.databaseCredentials

  // New clients are served the valid credential, stale, and told why on the readiness body.
  const stale = await b.credential()
  expect(stale).toMatchObject({ password: first.password, stale: true })
  expectServable(b, stale)
  expect(stale.upstreamError).toMatchObject({ kind: 'permanent', fix: expect.any(String) })
  const ready = await b.readiness()
  expect(ready.targets[0]?.last_error).toMatchObject({
    upstream_status: info.upstreamStatus,
    kind: 'permanent',
    fix: stale.upstreamError?.fix,
  })
  expect(await b.metrics()).toContain(`kind="permanent",fix="${stale.upstreamError?.fix}"`)
  // A crowd of callers does not turn into upstream calls.
  const crowd = await Promise.all(Array.from({ length: 20 }, () => b.get()))
  expect(crowd.map((a) => a.status)).toEqual(Array(20).fill(200))
  expect(b.workspace.calls.databaseCredentials).toBe(callsAfterFailure)

  // To the end of its life, and not a minute after: then 503 naming the upstream status and code.
  await newClientsUntil(b, kind, serveUntil)
  const detail = expectRefusal(await getWhileTimePasses(b))
  expect(detail).toMatchObject({
    error_code: 'CREDENTIAL_UNAVAILABLE',
    technical_details: {
      failure_kind: 'permanent',
      upstream_status: info.upstreamStatus,
      upstream_error_code: info.upstreamErrorCode,
    },
  })
  // Probed slowly, not retried like an outage: a handful of calls over the half hour.
  expect(b.workspace.calls.databaseCredentials - callsAfterFailure).toBeLessThanOrEqual(
    Math.ceil((serveUntil - Date.parse(first.refreshAt)) / PERMANENT_RETRY_MS) + 2,
  )

  b.workspace.unscript('databaseCredentials')
  const took = await b.advanceUntil(
    () => b.cache.status().valid,
    'recovery with no client asking',
    PERMANENT_RETRY_MS,
    5 * S,
  )
  expect(took).toBeLessThanOrEqual(PERMANENT_RETRY_MS)
  const fresh = await b.credential()
  expect(fresh.stale).toBe(false)
  expect(fresh.password).not.toBe(first.password)
  expectServable(b, fresh)

  // Cold: a broker whose first fetch is refused says why at once.
  const cold = await start()
  injectFault(cold, kind, { calls: 'outage' })
  await cold.clock.advance(LIFETIME_MS)
  await waitFor(() => !cold.cache.status().valid, { what: 'the cold broker holds nothing valid' })
  const coldDetail = expectRefusal(await cold.get())
  expect(coldDetail).toMatchObject({
    retry_after: PERMANENT_DEMAND_FETCH_INTERVAL_MS / S,
    technical_details: {
      upstream_status: info.upstreamStatus,
      upstream_error_code: info.upstreamErrorCode,
    },
  })
}

/** New clients asked for a credential while a permanent error was current, per case. */
const permanentWindow: Record<string, { served: number; failed: number }> = {}

/**
 * A new client every 5 minutes of the clock until `serveUntil`: each must be served. The clock
 * stops at each upstream probe and waits for it (a CLI runs in real time, not on this clock).
 */
async function newClientsUntil(b: FaultyBroker, name: string, serveUntil: number): Promise<void> {
  const tally = { served: 0, failed: 0 }
  permanentWindow[name] = tally
  const settled = () =>
    waitFor(() => !b.cache.status().fetching, { what: 'the upstream probe settles' })
  while (b.clock.now() < serveUntil) {
    const answer = await b.get()
    if (answer.ok) {
      expectServable(b, answer.body)
      tally.served++
    } else tally.failed++
    await settled()
    const now = b.clock.now()
    const probe = b.cache.status().nextAttemptAt ?? Number.POSITIVE_INFINITY
    await b.clock.advance(Math.min(now + 5 * MIN, serveUntil, probe > now ? probe : Infinity) - now)
    await settled()
  }
  expect(tally).toMatchObject({ failed: 0 })
}

/**
 * A developer's Databricks CLI login expires while the broker runs (`databricks auth token` asks
 * for `databricks auth login`): a permanent error. The workspace token in hand is used up first
 * (it still works), then the credential in hand is served, stale, with the fix, to its end.
 */
async function ridesOutExpiredCliLogin() {
  const clock = new ManualClock()
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-cli-login-'))
  const token = `cli-token-${randomUUID()}`
  secrets.secret('the CLI login token', token)
  // The CLI's token lives 40 minutes: past its half-life at the first refresh, gone by the second.
  const cliToken = {
    access_token: token,
    token_type: 'Bearer',
    expiry: new Date(clock.now() + 40 * MIN).toISOString(),
  }
  const stub = await writeCliStub(dir, { stdout: JSON.stringify(cliToken) })
  const b = await start({
    clock,
    env: { DATABRICKS_AUTH_TYPE: 'databricks-cli', DATABRICKS_CLI_PATH: stub.path },
    acceptedTokens: [token],
  })
  try {
    const first = await b.credential()
    await writeCliStub(dir, {
      stderr: 'Error: refresh token is invalid. Please run `databricks auth login` again\n',
      exitCode: 1,
    })
    // The first refresh mints with the held workspace token; its own refresh fails behind it.
    await b.clock.advance(Date.parse(first.refreshAt) - b.clock.now())
    await waitFor(() => b.cache.status().lastSuccessAt === b.clock.now(), {
      what: 'the refresh at the half-life',
    })
    await waitFor(() => !b.cache.status().fetching, { what: 'the refresh settles' })
    const second = await b.credential()
    expect(second).toMatchObject({ stale: false })
    expect(second.password).not.toBe(first.password)
    // At the next refresh the workspace token is gone and the CLI wants a login: permanent.
    await b.clock.advance(Date.parse(second.refreshAt) - b.clock.now())
    await waitFor(() => b.cache.status().lastError !== undefined, { what: 'the failed refresh' })
    const stale = await b.credential()
    expect(stale).toMatchObject({ password: second.password, stale: true })
    expect(stale.upstreamError).toMatchObject({ errorClass: 'unauthorized', kind: 'permanent' })
    expect(stale.upstreamError?.message).toMatch(/databricks auth login/)
    expect(stale.upstreamError?.fix).toMatch(/databricks auth login/)
    await newClientsUntil(b, 'expired CLI login', Date.parse(second.expiresAt) - DEFAULT_MIN_TTL_MS)
    const detail = expectRefusal(await getWhileTimePasses(b))
    expect(detail.technical_details).toMatchObject({
      failure_kind: 'permanent',
      suggested_fix: stale.upstreamError?.fix,
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A token without `sub`: the user comes from SCIM Me instead, and nothing fails. */
async function findsTheUserElsewhere() {
  const b = await start()
  const first = await b.credential()
  expect(first.user).toBe(b.workspace.identity)
  expect(b.workspace.calls.scimMe).toBe(0)
  injectFault(b, 'token-without-sub', { calls: 'outage' })
  const succeeded = b.cache.status().lastSuccessAt
  await b.clock.advance(REFRESH_AFTER_MS)
  await waitFor(() => b.cache.status().lastSuccessAt !== succeeded, {
    what: 'the refresh succeeds',
  })
  const next = await b.credential()
  expect(next).toMatchObject({ user: b.workspace.identity, stale: false })
  expect(next.password).not.toBe(first.password)
  expectServable(b, next)
  expect(b.workspace.calls.scimMe).toBeGreaterThanOrEqual(1)
  expect(b.cache.status().consecutiveFailures).toBe(0)
}

/** The machine's clock jumps: forward (a suspension), back (an NTP correction). */
async function survivesClockJumps() {
  // Suspended for two hours: the held token has expired; the next request gets a fresh one.
  {
    const b = await start()
    const first = await b.credential()
    injectFault(b, 'clock-jump', { jumpMs: 2 * LIFETIME_MS })
    const after = await b.credential()
    expect(after.password).not.toBe(first.password)
    expect(after.stale).toBe(false)
    expectServable(b, after)
  }
  // Suspended past the refresh point only: still served, and the missed refresh catches up.
  {
    const b = await start()
    const first = await b.credential()
    injectFault(b, 'clock-jump', { jumpMs: 40 * MIN })
    const during = await b.credential()
    expect(during.password).toBe(first.password)
    expectServable(b, during)
    await waitFor(() => b.workspace.credentials.length === 2, {
      what: 'the missed refresh catches up',
    })
    await waitFor(() => b.cache.status().lastSuccessAt === b.clock.now(), {
      what: 'the refresh is stored',
    })
    const next = await b.credential()
    expect(next.password).not.toBe(first.password)
    expectServable(b, next)
  }
  // A clock 20 minutes fast is set right: the refresh still comes after the time it planned
  // to wait, not 20 minutes late.
  {
    const clock = new ManualClock(undefined, { aheadMs: 20 * MIN })
    const b = await start({ clock })
    const first = await b.credential()
    const plannedWait = Date.parse(first.refreshAt) - clock.now()
    injectFault(b, 'clock-jump', { jumpMs: -20 * MIN })
    const waited = await b.advanceUntil(
      () => b.workspace.credentials.length === 2,
      'the refresh after the clock was set back',
      plannedWait + MIN,
      MIN,
    )
    expect(waited).toBeLessThanOrEqual(plannedWait + MIN)
    expectServable(b, await b.credential())
  }
  // Set back an hour during an outage: recovery does not wait for the clock to catch up.
  {
    const b = await start()
    injectFault(b, 'server-error', { calls: 'outage' })
    await b.clock.advance(LIFETIME_MS)
    await waitFor(() => !b.cache.status().valid, { what: 'the held credential runs out' })
    injectFault(b, 'clock-jump', { jumpMs: -LIFETIME_MS })
    const detail = expectRefusal(await b.get())
    expect(detail.retry_after).toBeLessThanOrEqual(RETRY_MAX_MS / S)
    b.workspace.unscript('databaseCredentials')
    await b.advanceUntil(() => b.cache.status().valid, 'recovery', RETRY_MAX_MS + S)
    expectServable(b, await b.credential())
  }
}

/** What each fault kind must leave intact; a Record, so that no kind goes untested. */
const SCENARIOS: Record<FaultKind, () => Promise<void>> = {
  latency: () => ridesOutTransientOutage('latency', { errorClass: 'timeout' }),
  'server-error': () => ridesOutTransientOutage('server-error', { errorClass: 'upstream_5xx' }),
  'rate-limited': () =>
    ridesOutTransientOutage('rate-limited', {
      errorClass: 'rate_limited',
      retryAfterS: DEFAULT_RETRY_AFTER_S,
    }),
  'connection-reset': () => ridesOutTransientOutage('connection-reset', { errorClass: 'network' }),
  'malformed-json': () =>
    ridesOutTransientOutage('malformed-json', { errorClass: 'malformed_response' }),
  'missing-fields': () =>
    ridesOutTransientOutage('missing-fields', { errorClass: 'malformed_response' }),
  unauthorized: () => surfacesPermanentError('unauthorized'),
  forbidden: () => surfacesPermanentError('forbidden'),
  'not-found': () => surfacesPermanentError('not-found'),
  'token-without-sub': findsTheUserElsewhere,
  'expired-token': () =>
    ridesOutTransientOutage('expired-token', { errorClass: 'malformed_response' }),
  'clock-jump': survivesClockJumps,
}

describe('a permanent error outside the workspace', () => {
  it('an expired Databricks CLI login: new clients are served until the credential expires', async () => {
    await ridesOutExpiredCliLogin()
  })
})

describe('the broker under every fault in the kit', () => {
  it.each(FAULT_KINDS.map((kind) => [kind, FAULTS[kind].class]))(
    '%s (%s): keeps the contract',
    async (kind) => {
      await SCENARIOS[kind as FaultKind]()
      survived.add(kind as FaultKind)
    },
  )
})
