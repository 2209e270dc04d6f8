import { decodeJwt, decodeProtectedHeader } from 'jose'
import postgres from 'postgres'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_EMBEDDED_TOKEN_TTL_S,
  EmbeddedProvider,
  type EmbeddedProviderOptions,
} from '../../../broker/providers/embedded.js'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { rejectionOf } from '../../support/kit.js'
import { adminSql, createTestDatabase, type TestDatabase } from '../../support/postgres.js'
import { fetchCancelledOnRoleLock } from '../../support/role-lock.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/**
 * An embedded provider on a fresh database of the suite's real Postgres, for a role of its own
 * (`name` goes into the role, to try quoting); the clock starts now, so VALID UNTIL lies ahead.
 */
async function setup(name = 'dev', options: Partial<EmbeddedProviderOptions> = {}) {
  const db: TestDatabase = await createTestDatabase('emb')
  const user = `${name}-${Math.random().toString(36).slice(2, 8)}@example.com`
  const clock = new ManualClock(Date.now())
  const provider = new EmbeddedProvider({
    admin: db.sql,
    host: db.host,
    port: db.port,
    database: db.database,
    user,
    clock,
    ...options,
  })
  cleanup.push(async () => {
    await db.drop()
    const admin = adminSql()
    await admin.unsafe(`drop role if exists "${user.replaceAll('"', '""')}"`)
    await admin.end()
  })
  return { db, user, clock, provider }
}

/** Logs in with `password` as `user`, runs `query` (one statement), logs out. */
async function asUser(db: TestDatabase, user: string, password: string, query: string) {
  const sql = postgres({
    host: db.host,
    port: db.port,
    database: db.database,
    user,
    password,
    max: 1,
    onnotice: () => {},
  })
  try {
    return await sql.unsafe(query)
  } finally {
    await sql.end({ timeout: 1 })
  }
}

describe('EmbeddedProvider', () => {
  it('mints a signed token for the user, valid for the TTL, as a Lakebase credential', async () => {
    const { db, user, clock, provider } = await setup('mint', { tokenTtlS: 600 })
    const credential = await provider.fetch()
    const now = clock.now()
    const expiresAt = Math.floor((now + 600_000) / 1000) * 1000
    expect(credential).toEqual({
      user,
      password: expect.any(String),
      host: db.host,
      port: db.port,
      database: db.database,
      ssl: 'disable',
      issuedAt: new Date(now),
      expiresAt: new Date(expiresAt),
      source: 'embedded',
    })
    expect(decodeProtectedHeader(credential.password)).toEqual({ alg: 'ES256' })
    expect(decodeJwt(credential.password)).toEqual({
      scope: 'postgres',
      sub: user,
      iss: 'lakebase-embedded',
      iat: Math.floor(now / 1000),
      exp: expiresAt / 1000,
    })
  })

  it('makes the token the role’s password until it expires, and the role owns public', async () => {
    const { db, user, provider } = await setup('login')
    const credential = await provider.fetch()
    const [role] = await db.sql`select rolvaliduntil from pg_roles where rolname = ${user}`
    expect(role?.rolvaliduntil).toEqual(credential.expiresAt)
    const login = (query: string) => asUser(db, user, credential.password, query)
    await login('create table public.notes as select current_user::text as who')
    expect(await login('select who from public.notes')).toEqual([{ who: user }])
  })

  it('replaces the password on each fetch: the previous token no longer logs in', async () => {
    const { db, user, clock, provider } = await setup('rotate')
    const first = await provider.fetch()
    await clock.advance(1_000)
    const second = await provider.fetch()
    expect(second.password).not.toBe(first.password)
    const refused = await rejectionOf(asUser(db, user, first.password, 'select 1'), Error)
    expect(refused).toMatchObject({ code: '28P01' })
    expect(await asUser(db, user, second.password, 'select 1 as ok')).toEqual([{ ok: 1 }])
  })

  it('takes over a role that exists already, and quotes a name with quotes in it', async () => {
    const { db, user, provider } = await setup(`o'brien "dev"`)
    const admin = adminSql()
    cleanup.push(() => admin.end())
    await admin.unsafe(`create role "${user.replaceAll('"', '""')}" nologin`)
    const credential = await provider.fetch()
    expect(await asUser(db, user, credential.password, 'select current_user as who')).toEqual([
      { who: user },
    ])
  })

  it('says what it serves, with the one-hour default lifetime of a Lakebase token', async () => {
    const { db, user, provider } = await setup('describe')
    expect(DEFAULT_EMBEDDED_TOKEN_TTL_S).toBe(3600)
    expect(provider.describe()).toEqual({
      source: 'embedded',
      host: db.host,
      port: db.port,
      database: db.database,
      user,
      tokenTtlS: 3600,
    })
  })

  it('stops at its signal: a fetch held by a lock on the role is cancelled, and no password changes', async () => {
    const { db, user, provider } = await setup('locked')
    const first = await provider.fetch()
    // Another session alters the role and keeps its transaction open: the next ALTER waits.
    const holder = adminSql()
    const watch = adminSql()
    cleanup.push(() => Promise.all([holder.end(), watch.end()]))
    const err = await fetchCancelledOnRoleLock((signal) => provider.fetch(signal), user, {
      holder,
      watch,
    })
    expect(err.errorClass).toBe('timeout')
    expect(await asUser(db, user, first.password, 'select 1 as ok')).toEqual([{ ok: 1 }])
    // An aborted signal stops it before anything runs.
    await expect(provider.fetch(AbortSignal.abort())).rejects.toThrow()
  })

  it('fails with a UpstreamError when Postgres cannot be reached', async () => {
    const { db, provider } = await setup('down')
    await db.sql.end()
    const err = await rejectionOf(provider.fetch(), UpstreamError)
    expect(err.errorClass).toBe('network')
  })
})
