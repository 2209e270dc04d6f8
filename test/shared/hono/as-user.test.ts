import { randomBytes } from 'node:crypto'
import { Hono } from 'hono'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerCredentials, connectBroker } from '../../../shared/client/broker-client.js'
import type { Credential } from '../../../shared/client/credential.js'
import { LakebaseError } from '../../../shared/client/errors.js'
import { type LakebaseEnv, lakebase } from '../../../shared/hono/lakebase.js'
import { UserPools } from '../../../shared/hono/user-pools.js'
import { sqlStats } from '../../../shared/postgres/create-sql.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../../support/lakebase-like.js'
import { adminSql } from '../../support/postgres.js'
import { rejectionOf } from '../../support/rejection.js'

/** Unique per run: roles are server-wide, and other files may run at the same time. */
const run = randomBytes(3).toString('hex')
const ALICE = `alice.${run}@example.com`
const BOB = `bob.${run}@example.com`
const ALICE_TOKEN = `dapi-alice-${run}-user-token`
const ALICE_SECOND_TOKEN = `dapi-alice-${run}-next-token`
const BOB_TOKEN = `dapi-bob-${run}-user-token`
const IDLE_MS = 60_000

let lb: LakebaseLike
let broker: Awaited<ReturnType<typeof startTestBroker>>
const admin = adminSql()

beforeAll(async () => {
  lb = await lakebaseLike({ lifetimeS: 3600 })
  for (const role of [ALICE, BOB]) {
    await admin.unsafe(`create role "${role}" with login`)
    await admin.unsafe(`grant connect on database "${lb.db.database}" to "${role}"`)
  }
  await lb.db.sql.unsafe(`
    create table notes (user_id text not null, body text not null);
    insert into notes values
      ('${ALICE}', 'alice 1'), ('${ALICE}', 'alice 2'), ('${BOB}', 'bob 1');
    alter table notes enable row level security;
    create policy own_notes on notes using (user_id = current_user);
    grant usage on schema public to "${ALICE}", "${BOB}";
    grant select on notes to "${ALICE}", "${BOB}";
  `)
  lb.workspace.acceptToken(ALICE_TOKEN, ALICE)
  lb.workspace.acceptToken(ALICE_SECOND_TOKEN, ALICE)
  lb.workspace.acceptToken(BOB_TOKEN, BOB)
  broker = await startTestBroker(lb.brokerEnv)
})

afterAll(async () => {
  await broker?.broker.close()
  await lb?.close()
  for (const role of [ALICE, BOB]) await admin.unsafe(`drop role if exists "${role}"`)
  await admin.end()
})

/** An app on `lakebase({ asUser })` whose route reads every note, with no WHERE clause. */
function notesApp(clock = new ManualClock()) {
  const sqlSeen = new Map<string, Set<postgres.Sql>>()
  const app = new Hono<LakebaseEnv>()
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  app.use(
    '/api/*',
    lakebase({ credentials, asUser: { clock, idleMs: IDLE_MS }, env: lb.brokerEnv }),
  )
  app.get('/api/notes', async (c) => {
    const seen = sqlSeen.get(c.var.user) ?? new Set()
    seen.add(c.var.sql)
    sqlSeen.set(c.var.user, seen)
    const rows = await c.var.sql<{ user_id: string; body: string }[]>`
      select user_id, body, current_user as role from notes order by body`
    return c.json({ user: c.var.user, rows })
  })
  const notes = (token?: string) =>
    app.request('/api/notes', {
      headers: token === undefined ? {} : { 'x-forwarded-access-token': token },
    })
  return { app, notes, sqlSeen, clock }
}

type Notes = { user: string; rows: { user_id: string; body: string; role: string }[] }

/** The roles logged in to the test database right now, by backend. */
async function loggedInRoles(): Promise<string[]> {
  const rows = await admin<{ usename: string }[]>`
    select usename from pg_stat_activity
    where datname = ${lb.db.database} and application_name = 'lakebase-broker'`
  return rows.map((r) => r.usename).sort()
}

describe('lakebase({ asUser: true }) on the MSW workspace and a row-level-security policy', () => {
  it('shows alice only her rows and bob only his, with no WHERE clause in the query', async () => {
    const { notes } = notesApp()
    const alice = (await (await notes(ALICE_TOKEN)).json()) as Notes
    expect(alice.user).toBe(ALICE)
    expect(alice.rows.map((r) => r.body)).toEqual(['alice 1', 'alice 2'])
    expect(new Set(alice.rows.map((r) => r.role))).toEqual(new Set([ALICE]))
    const bob = (await (await notes(BOB_TOKEN)).json()) as Notes
    expect(bob.rows.map((r) => r.body)).toEqual(['bob 1'])
  })

  it("never lets another user's token reach alice's pool", async () => {
    const { notes, sqlSeen } = notesApp()
    await notes(ALICE_TOKEN)
    await notes(BOB_TOKEN)
    // A second token of alice's is proven to be alice's by the broker: it joins her pool.
    const again = (await (await notes(ALICE_SECOND_TOKEN)).json()) as Notes
    expect(again.rows.every((r) => r.role === ALICE)).toBe(true)
    await notes(BOB_TOKEN)
    const alicePools = [...(sqlSeen.get(ALICE) ?? [])]
    const bobPools = [...(sqlSeen.get(BOB) ?? [])]
    expect([alicePools.length, bobPools.length]).toEqual([1, 1])
    expect(alicePools[0]).not.toBe(bobPools[0])
    const [alicePool] = alicePools
    const [bobPool] = bobPools
    if (!alicePool || !bobPool) throw new Error('no pools seen')
    expect(sqlStats(alicePool)?.login_user).toBe(ALICE)
    expect(sqlStats(bobPool)?.login_user).toBe(BOB)
    const roles = await loggedInRoles()
    expect(roles.filter((r) => r !== ALICE && r !== BOB)).toEqual([])
    expect(sqlStats(alicePool)?.max).toBe(2)
  })

  it('answers 401 AUTH_REQUIRED without the token, and 401 USER_TOKEN_REJECTED for a refused one', async () => {
    const { notes } = notesApp()
    const missing = await notes()
    expect(missing.status).toBe(401)
    const missingBody = (await missing.json()) as { detail: { error_code: string } }
    expect(missingBody.detail.error_code).toBe('AUTH_REQUIRED')
    const refused = await notes('dapi-nobody-knows-this-token')
    expect(refused.status).toBe(401)
    const refusedBody = (await refused.json()) as { detail: { error_code: string } }
    expect(refusedBody.detail.error_code).toBe('USER_TOKEN_REJECTED')
    // One no header could carry on to the broker: refused here, as missing, not a 5xx.
    const malformed = await notes('dapi\u000ebroken token')
    expect(malformed.status).toBe(401)
    const malformedBody = (await malformed.json()) as { detail: { error_code: string } }
    expect(malformedBody.detail.error_code).toBe('AUTH_REQUIRED')
  })

  it("ends a user's pool once it has been unused for idleMs, and opens a new one on return", async () => {
    const { notes, sqlSeen, clock } = notesApp()
    await notes(ALICE_TOKEN)
    const [first] = [...(sqlSeen.get(ALICE) ?? [])]
    if (!first) throw new Error('no pool for alice')
    expect(sqlStats(first)?.open).toBeGreaterThan(0)
    clock.jump(IDLE_MS - 1)
    await notes(BOB_TOKEN)
    expect(sqlStats(first)?.open).toBeGreaterThan(0)
    clock.jump(1)
    // Any request sweeps: bob's ends alice's idle pool.
    await notes(BOB_TOKEN)
    await expect.poll(() => sqlStats(first)?.open).toBe(0)
    const back = (await (await notes(ALICE_TOKEN)).json()) as Notes
    expect(back.rows.map((r) => r.body)).toEqual(['alice 1', 'alice 2'])
    const pools = [...(sqlSeen.get(ALICE) ?? [])]
    expect(pools.length).toBe(2)
  })

  it('writes no user token to the broker log', () => {
    const text = broker.logs.text()
    expect(text.length).toBeGreaterThan(0)
    for (const token of [ALICE_TOKEN, ALICE_SECOND_TOKEN, BOB_TOKEN]) {
      expect(text).not.toContain(token)
    }
  })

  it('refuses asUser with sql, or with credentials that cannot ask for a user', () => {
    const plain = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    expect(() => lakebase({ asUser: true, sql: admin })).toThrow(/asUser/)
    const { forUser: _, ...withoutForUser } = plain
    expect(() => lakebase({ asUser: true, credentials: withoutForUser })).toThrow(/forUser/)
    expect(() => lakebase({ asUser: { max: 0 }, credentials: plain })).toThrow(/asUser\.max/)
  })
})

describe('UserPools', () => {
  it("refuses a login whose credential is not for the pool's identity, even from its own source", async () => {
    let user = ALICE
    const served = (): Credential => ({
      target: 'default',
      user,
      password: 'pw',
      host: '127.0.0.1',
      port: 1,
      database: 'd',
      ssl: 'disable',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      refreshAt: new Date(Date.now() + 1_800_000).toISOString(),
      stale: false,
      source: 'databricks',
      version: user,
    })
    const source: BrokerCredentials = {
      target: 'default',
      get: async () => served(),
      current: () => served(),
      password: async () => served().password,
      forget: () => {},
    }
    const pools = new UserPools({ ...source, forUser: () => source }, {})
    const lease = await pools.acquire('any-token')
    expect(lease.user).toBe(ALICE)
    user = BOB
    const err = await rejectionOf(lease.sql`select 1`, LakebaseError)
    expect(err.code).toBe('CREDENTIAL_UNAVAILABLE')
    expect(pools.identities()).toEqual([ALICE])
    lease.release()
    await pools.close()
  })
})
