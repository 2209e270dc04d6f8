import { randomBytes } from 'node:crypto'
import type postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../shared/postgres/create-sql.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { adminSql } from '../support/postgres.js'
import { rejectionOf } from '../support/rejection.js'
import { waitFor } from '../support/wait-for.js'

/**
 * Issue 22, item 2: with `LAKEBASE_GROUP` the broker mints the workspace group's credential
 * (`group_name`) and logs in as the group's Postgres role, so that every member works on the
 * same objects as one role. Two developers' brokers against the kit, on a real Postgres whose
 * roles take each minted token as their password.
 */

const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'
const suffix = randomBytes(3).toString('hex')
const ALICE = `alice-${suffix}@example.com`
const BOB = `bob-${suffix}@example.com`
const GROUP = `data-team-${suffix}`
const BOB_PAT = `dapi${randomBytes(16).toString('hex')}`
const CAROL_PAT = `dapi${randomBytes(16).toString('hex')}`

let lakebase: LakebaseLike
let admin: postgres.Sql
const cleanups: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  lakebase = await lakebaseLike({
    lifetimeS: 3600,
    identity: ALICE,
    workspace: {
      endpoints: [{ name: ENDPOINT, host: '127.0.0.1' }],
      groups: { [GROUP]: [ALICE, BOB] },
    },
  })
  lakebase.workspace.acceptToken(BOB_PAT, BOB)
  lakebase.workspace.acceptToken(CAROL_PAT, `carol-${suffix}@example.com`)
  admin = adminSql()
  // The group's role, and Bob's own, with what a Lakebase project grants its members' roles.
  for (const role of [GROUP, BOB]) {
    await admin.unsafe(`create role "${role}" with login`)
    await admin.unsafe(`grant connect, create on database "${lakebase.db.database}" to "${role}"`)
    await lakebase.db.sql.unsafe(`grant usage, create on schema public to "${role}"`)
  }
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await lakebase?.close()
  for (const role of [GROUP, BOB]) await admin?.unsafe(`drop role if exists "${role}"`)
  await admin?.end()
})

/** A developer's broker (their own workspace login) and a postgres.js client on it. */
async function developer(token: string, extra: Record<string, string> = {}) {
  const started = await startTestBroker({
    ...lakebase.workspace.env({ target: 'autoscaling' }),
    DATABRICKS_TOKEN: token,
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    PGPORT: String(lakebase.db.port),
    PGDATABASE: lakebase.db.database,
    PGSSLMODE: 'disable',
    ...extra,
  })
  cleanups.push(() => started.broker.close())
  const sql = createSql({
    env: { LAKEBASE_BROKER_URL: started.url, LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN },
    max: 1,
  })
  cleanups.push(() => sql.end({ timeout: 1 }))
  return { ...started, sql }
}

describe('LAKEBASE_GROUP', () => {
  it("logs every member in as the group's role: a table one creates, the other uses, with no grant", async () => {
    const alice = await developer(lakebase.workspace.pat, { LAKEBASE_GROUP: GROUP })
    expect(await alice.sql`select current_user as role`).toEqual([{ role: GROUP }])
    await alice.sql`create table shared_notes (body text)`
    await alice.sql`insert into shared_notes values ('from alice')`
    // Bob starts after: the strict server keeps one password per role, the latest token.
    const bob = await developer(BOB_PAT, { LAKEBASE_GROUP: GROUP })
    expect(await bob.sql`select current_user as role`).toEqual([{ role: GROUP }])
    await bob.sql`insert into shared_notes values ('from bob')`
    expect(await bob.sql`select body from shared_notes order by body`).toEqual([
      { body: 'from alice' },
      { body: 'from bob' },
    ])
    const [owner] = await lakebase.db.sql`
      select tableowner from pg_tables where tablename = 'shared_notes'`
    expect(owner?.tableowner).toBe(GROUP)

    const asked = lakebase.workspace.requests
      .filter((r) => r.route === 'postgresCredentials')
      .map((r) => JSON.parse(r.body ?? '{}') as Record<string, unknown>)
    expect(asked).toEqual([
      { endpoint: ENDPOINT, group_name: GROUP },
      { endpoint: ENDPOINT, group_name: GROUP },
    ])
    // The tokens are Alice's and Bob's own (their sub), each logging in as the group.
    expect(lakebase.workspace.credentials.map((c) => c.user)).toEqual([GROUP, GROUP])
  })

  it("without it, a member's own role cannot use what the group owns", async () => {
    await lakebase.db.sql`create table if not exists team_only (body text)`
    await lakebase.db.sql.unsafe(`alter table team_only owner to "${GROUP}"`)
    const bob = await developer(BOB_PAT)
    expect(await bob.sql`select current_user as role`).toEqual([{ role: BOB }])
    const denied = await rejectionOf(bob.sql`select * from team_only`, Error)
    expect((denied as { code?: string }).code).toBe('42501')
  })

  it("answers 503 with the workspace's 403 for a caller outside the group", async () => {
    const carol = await developer(CAROL_PAT, { LAKEBASE_GROUP: GROUP })
    const response = await fetch(`${carol.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({
      detail: {
        error_code: 'CREDENTIAL_UNAVAILABLE',
        technical_details: { upstream_status: 403, upstream_error_code: 'PERMISSION_DENIED' },
      },
    })
  })

  it("warns at start-up that a PGUSER the group overrides is not used, and logs in as the group's role", async () => {
    const alice = await developer(lakebase.workspace.pat, {
      LAKEBASE_GROUP: GROUP,
      PGUSER: ALICE,
    })
    expect(await alice.sql`select current_user as role`).toEqual([{ role: GROUP }])
    await waitFor(() => alice.logs.text().includes(`PGUSER is ${ALICE}, but LAKEBASE_GROUP`))
    for (const token of lakebase.workspace.minted) expect(alice.logs.text()).not.toContain(token)
  })
})
