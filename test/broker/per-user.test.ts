import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PerUserCredentials } from '../../broker/per-user/per-user-credentials.js'
import { UserCredentialCache } from '../../broker/per-user/user-credential-cache.js'
import { tokenFingerprint, USER_TOKEN_HEADER } from '../../broker/per-user/user-token.js'
import { DEFAULT_REFRESH_POLICY } from '../../broker/refresh-schedule.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { LakebaseError } from '../../shared/client/errors.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { ManualClock } from '../../testing/manual-clock.js'
import type { MockWorkspaceServer } from '../../testing/serve.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { deferred, freePort, rejectionOf } from '../support/kit.js'
import { createMockWorkspace, type MockWorkspace } from '../testing/workspace/index.js'

const APP = 'app-principal@example.com'
const ALICE = 'alice@example.com'
const BOB = 'bob@example.com'
const ALICE_TOKEN = 'dapi-alice-user-token-7f3a9c'
const BOB_TOKEN = 'dapi-bob-user-token-2e8d41'
const UNKNOWN_TOKEN = 'dapi-revoked-user-token-9b0c'
const HOUR_MS = 3_600_000

type Served = { user: string; password: string; version: string; stale: boolean }
type ErrorBody = { detail: { error_code: string; technical_details: Record<string, unknown> } }

describe('the broker on behalf of a user (a databricks target)', () => {
  let workspace: MockWorkspace
  let server: MockWorkspaceServer
  let started: Awaited<ReturnType<typeof startTestBroker>>

  beforeAll(async () => {
    workspace = createMockWorkspace({
      host: `http://127.0.0.1:${await freePort()}`,
      identity: APP,
    })
    workspace.acceptToken(ALICE_TOKEN, ALICE)
    workspace.acceptToken(BOB_TOKEN, BOB)
    server = await workspace.listen()
    started = await startTestBroker({ ...workspace.env(), PGHOST: '127.0.0.1' })
    await started.broker.caches.get('default')?.get()
  })
  afterAll(async () => {
    await started?.broker.close()
    await server?.close()
  })

  const get = (headers: Record<string, string> = {}, target = 'default') =>
    fetch(`${started.url}/v1/credentials/${target}`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}`, ...headers },
    })
  const mints = () => workspace.calls.databaseCredentials

  it("mints with the user's token, for the user's own role, not the app's", async () => {
    const before = workspace.requests.length
    const response = await get({ [USER_TOKEN_HEADER]: ALICE_TOKEN })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = (await response.json()) as Served
    expect(body.user).toBe(ALICE)
    const app = (await (await get()).json()) as Served
    expect(app.user).toBe(APP)
    expect(body.password).not.toBe(app.password)
    const minted = workspace.requests.slice(before).filter((r) => r.route === 'databaseCredentials')
    expect(minted.map((r) => r.authorization)).toEqual([`Bearer ${ALICE_TOKEN}`])
  })

  it('shares one mint among concurrent requests of one user, then answers from memory', async () => {
    const token = 'dapi-carol-user-token-51aa'
    workspace.acceptToken(token, 'carol@example.com')
    const before = mints()
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => get({ [USER_TOKEN_HEADER]: token })),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Served[]
    expect(new Set(bodies.map((b) => b.password)).size).toBe(1)
    expect(mints()).toBe(before + 1)
    await get({ [USER_TOKEN_HEADER]: token })
    expect(mints()).toBe(before + 1)
  })

  it("gives bob bob's credential, never alice's", async () => {
    const alice = (await (await get({ [USER_TOKEN_HEADER]: ALICE_TOKEN })).json()) as Served
    const bob = (await (await get({ [USER_TOKEN_HEADER]: BOB_TOKEN })).json()) as Served
    expect(bob.user).toBe(BOB)
    expect(bob.password).not.toBe(alice.password)
    expect(bob.version).not.toBe(alice.version)
  })

  it('answers a token the workspace refuses with 401 USER_TOKEN_REJECTED, and remembers the refusal briefly', async () => {
    const before = mints()
    for (let i = 0; i < 2; i++) {
      const response = await get({ [USER_TOKEN_HEADER]: UNKNOWN_TOKEN })
      expect(response.status).toBe(401)
      const body = (await response.json()) as ErrorBody
      expect(body.detail.error_code).toBe('USER_TOKEN_REJECTED')
      expect(body.detail.technical_details.upstream_status).toBe(401)
    }
    // The second answer came from the broker's memory of the refusal, not from the workspace.
    expect(workspace.calls.databaseCredentials - before).toBe(1)
  })

  it('answers a workspace 403 with 403 USER_FORBIDDEN', async () => {
    const token = 'dapi-dave-user-token-0c1d'
    workspace.acceptToken(token, 'dave@example.com')
    workspace.script('databaseCredentials', { status: 403, error_code: 'PERMISSION_DENIED' })
    const response = await get({ [USER_TOKEN_HEADER]: token })
    expect(response.status).toBe(403)
    expect(((await response.json()) as ErrorBody).detail.error_code).toBe('USER_FORBIDDEN')
  })

  it('checks the client token and the request guard first, before any workspace call', async () => {
    const before = workspace.totalCalls()
    const noClient = await fetch(`${started.url}/v1/credentials`, {
      headers: { [USER_TOKEN_HEADER]: ALICE_TOKEN },
    })
    expect(noClient.status).toBe(401)
    expect(((await noClient.json()) as ErrorBody).detail.error_code).toBe('BROKER_UNAUTHORIZED')
    const forwarded = await get({ [USER_TOKEN_HEADER]: ALICE_TOKEN, 'x-forwarded-for': '10.0.0.1' })
    expect(forwarded.status).toBe(403)
    expect(((await forwarded.json()) as ErrorBody).detail.error_code).toBe('BROKER_FORBIDDEN')
    expect(workspace.totalCalls()).toBe(before)
  })

  it('answers an unknown target 404 and a malformed user token 400', async () => {
    const unknown = await get({ [USER_TOKEN_HEADER]: ALICE_TOKEN }, 'nope')
    expect(unknown.status).toBe(404)
    const malformed = await get({ [USER_TOKEN_HEADER]: 'two words' })
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as ErrorBody).detail.error_code).toBe('INVALID_REQUEST')
  })

  it("mints anew when Postgres refused the user's credential, once per refused version", async () => {
    const held = (await (await get({ [USER_TOKEN_HEADER]: BOB_TOKEN })).json()) as Served
    const before = mints()
    const report = () =>
      fetch(`${started.url}/v1/credentials/default/refresh`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_CLIENT_TOKEN}`,
          [USER_TOKEN_HEADER]: BOB_TOKEN,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ refused: held.version }),
      })
    const [first, second] = (await Promise.all([
      (await report()).json(),
      (await report()).json(),
    ])) as Served[]
    expect(first?.user).toBe(BOB)
    expect(first?.version).not.toBe(held.version)
    expect(second?.version).toBe(first?.version)
    expect(mints()).toBe(before + 1)
  })

  it('serves brokerCredentials().forUser(token): the user, one client per token, errors passed on', async () => {
    const client = connectBroker({ url: started.url, token: TEST_CLIENT_TOKEN })
    const alice = client.forUser?.(ALICE_TOKEN)
    expect(client.forUser?.(ALICE_TOKEN)).toBe(alice)
    expect((await alice?.get())?.user).toBe(ALICE)
    expect((await client.get()).user).toBe(APP)
    const refused = await rejectionOf(
      client.forUser?.(UNKNOWN_TOKEN).get() ?? Promise.resolve(),
      LakebaseError,
    )
    expect(refused.status).toBe(401)
    expect(refused.code).toBe('USER_TOKEN_REJECTED')
    expect(await client.forUser?.(UNKNOWN_TOKEN).password()).toBe('')
  })

  it('never writes a user token, or its fingerprint, to the log', async () => {
    started.logs.logger.info(
      { req: { headers: { [USER_TOKEN_HEADER]: ALICE_TOKEN } }, userToken: BOB_TOKEN },
      'a careless line',
    )
    const text = started.logs.text()
    expect(text).toContain('a careless line')
    for (const token of [ALICE_TOKEN, BOB_TOKEN, UNKNOWN_TOKEN]) {
      expect(text).not.toContain(token)
      expect(text).not.toContain(tokenFingerprint(token))
    }
  })
})

describe('the broker on behalf of a user (a static target)', () => {
  it('answers 400 PER_USER_UNSUPPORTED, and still serves the target without the header', async () => {
    const { broker, url } = await startTestBroker({
      LAKEBASE_PROVIDER: 'static',
      PGHOST: '127.0.0.1',
      PGUSER: 'app',
      PGPASSWORD: 'static-password',
    })
    try {
      const headers = { authorization: `Bearer ${TEST_CLIENT_TOKEN}` }
      const asUser = await fetch(`${url}/v1/credentials`, {
        headers: { ...headers, [USER_TOKEN_HEADER]: ALICE_TOKEN },
      })
      expect(asUser.status).toBe(400)
      const body = (await asUser.json()) as ErrorBody
      expect(body.detail.error_code).toBe('PER_USER_UNSUPPORTED')
      expect(JSON.stringify(body)).not.toContain(ALICE_TOKEN)
      const plain = await fetch(`${url}/v1/credentials`, { headers })
      expect(plain.status).toBe(200)
    } finally {
      await broker.close()
    }
  })
})

/** A minter that answers as the test says, counting its calls per token. */
function scriptedMinter(clock: ManualClock, lifetimeMs = HOUR_MS) {
  const calls: string[] = []
  let next: (() => Promise<ProviderCredential>) | undefined
  return {
    calls,
    /** The next mint runs `answer` instead of succeeding. */
    answerNext(answer: () => Promise<ProviderCredential>) {
      next = answer
    },
    mint(userToken: string): Promise<ProviderCredential> {
      calls.push(userToken)
      const scripted = next
      next = undefined
      if (scripted) return scripted()
      const now = clock.now()
      return Promise.resolve({
        user: `${userToken}@example.com`,
        password: `db-${userToken}-${calls.length}`,
        host: 'h',
        port: 5432,
        database: 'd',
        ssl: 'require',
        issuedAt: new Date(now),
        expiresAt: new Date(now + lifetimeMs),
        source: 'databricks',
      })
    },
  }
}

describe('UserCredentialCache', () => {
  const policy = DEFAULT_REFRESH_POLICY

  it('drops a credential once it may no longer be served, and mints anew', async () => {
    const clock = new ManualClock()
    const minter = scriptedMinter(clock)
    const cache = new UserCredentialCache({ minter, policy, clock })
    const first = await cache.get('alice')
    clock.jump(HOUR_MS - policy.minTtlMs)
    const second = await cache.get('alice')
    expect(second.credential.password).not.toBe(first.credential.password)
    expect(minter.calls).toEqual(['alice', 'alice'])
  })

  it('evicts expired entries whenever one is added, whoever they belonged to', async () => {
    const clock = new ManualClock()
    const cache = new UserCredentialCache({ minter: scriptedMinter(clock), policy, clock })
    await cache.get('alice')
    clock.jump(HOUR_MS)
    await cache.get('bob')
    expect(cache.holds('alice')).toBe(false)
    expect(cache.size).toBe(1)
  })

  it('holds at most maxEntries users, the least recently used leaving first', async () => {
    const clock = new ManualClock()
    const cache = new UserCredentialCache({
      minter: scriptedMinter(clock),
      policy,
      clock,
      maxEntries: 2,
    })
    await cache.get('alice')
    await cache.get('bob')
    await cache.get('alice')
    await cache.get('carol')
    expect([cache.holds('alice'), cache.holds('bob'), cache.holds('carol')]).toEqual([
      true,
      false,
      true,
    ])
  })

  it('shares one mint per user among concurrent callers, and never caches a failure', async () => {
    const clock = new ManualClock()
    const minter = scriptedMinter(clock)
    const cache = new UserCredentialCache({ minter, policy, clock })
    const gate = deferred<ProviderCredential>()
    minter.answerNext(() => gate.promise)
    const waiting = Promise.allSettled([cache.get('alice'), cache.get('alice'), cache.get('bob')])
    gate.reject(new UpstreamError('upstream_5xx', 'boom', { upstreamStatus: 503 }))
    const settled = await waiting
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled'])
    expect(minter.calls).toEqual(['alice', 'bob'])
    expect((await cache.get('alice')).credential.user).toBe('alice@example.com')
    expect(minter.calls).toEqual(['alice', 'bob', 'alice'])
  })

  it('serves the last good credential, stale, through a failed refresh; a refused user drops it', async () => {
    const clock = new ManualClock()
    const minter = scriptedMinter(clock)
    const cache = new UserCredentialCache({ minter, policy, clock })
    const good = await cache.get('alice')
    clock.jump(good.refreshAt - clock.now())
    minter.answerNext(() => Promise.reject(new UpstreamError('timeout', 'slow')))
    const stale = await cache.get('alice')
    expect(stale.stale).toBe(true)
    expect(stale.credential.password).toBe(good.credential.password)
    minter.answerNext(() =>
      Promise.reject(new UpstreamError('unauthorized', 'revoked', { upstreamStatus: 401 })),
    )
    const refused = await rejectionOf(cache.get('alice'), UpstreamError)
    expect(refused.errorClass).toBe('unauthorized')
    expect(cache.holds('alice')).toBe(false)
  })
})

describe('PerUserCredentials', () => {
  it('maps a refused user to 401/403 and a workspace outage to 503 with retry_after', async () => {
    const clock = new ManualClock()
    const minter = scriptedMinter(clock)
    const perUser = new PerUserCredentials(
      new Map([
        ['default', new UserCredentialCache({ minter, policy: DEFAULT_REFRESH_POLICY, clock })],
      ]),
    )
    const cases: [UpstreamError, number, string][] = [
      [
        new UpstreamError('unauthorized', 'no', { upstreamStatus: 401 }),
        401,
        'USER_TOKEN_REJECTED',
      ],
      [new UpstreamError('forbidden', 'no', { upstreamStatus: 403 }), 403, 'USER_FORBIDDEN'],
      [
        new UpstreamError('upstream_5xx', 'down', { upstreamStatus: 503 }),
        503,
        'CREDENTIAL_UNAVAILABLE',
      ],
    ]
    for (const [failure, status, code] of cases) {
      minter.answerNext(() => Promise.reject(failure))
      // A token of its own per case: a refused one is remembered.
      const err = await rejectionOf(perUser.get('default', `alice-${status}`), LakebaseError)
      expect([err.status, err.code]).toEqual([status, code])
      if (status === 503) expect(err.retryAfter).toBe(1)
    }
    const unsupported = await rejectionOf(perUser.get('other', 'alice'), LakebaseError)
    expect([unsupported.status, unsupported.code]).toEqual([400, 'PER_USER_UNSUPPORTED'])
  })
})
