import { and, asc, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userPreferences } from '../../functions/db/schema.js'
import { getPreference, listPreferences } from '../../functions/routes/preferences.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'

let stack: FunctionsStack
beforeAll(async () => {
  stack = await startFunctionsStack()
})
afterAll(async () => {
  await stack?.close()
})

const theme = { mode: 'dark', accent_color: 'blue' }

async function rowCount(): Promise<number> {
  const [row] = await stack.db.sql`select count(*)::int as n from user_preferences`
  return row?.n as number
}

async function errorOf(response: Response) {
  return (
    (await response.json()) as {
      detail: { error_code: string; technical_details: Record<string, unknown> }
    }
  ).detail
}

describe('/api/preferences', () => {
  it('creates with 201, updates with 200, and reads back the same row', async () => {
    const user = 'create-update@example.com'
    const created = await stack.call('POST', '/api/preferences', {
      user,
      body: { preference_key: 'theme', preference_value: theme },
    })
    expect(created.status).toBe(201)
    const row = (await created.json()) as Record<string, unknown>
    expect(row).toMatchObject({ user_id: user, preference_key: 'theme', preference_value: theme })
    expect(String(row.created_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)

    const updated = await stack.call('PUT', '/api/preferences/theme', {
      user,
      body: { preference_value: { mode: 'light' } },
    })
    expect(updated.status).toBe(200)
    expect(await updated.json()).toMatchObject({ id: row.id, preference_value: { mode: 'light' } })

    const one = await stack.call('GET', '/api/preferences/theme', { user })
    expect(one.status).toBe(200)
    expect(await one.json()).toMatchObject({ id: row.id, preference_value: { mode: 'light' } })
    const list = await stack.call('GET', '/api/preferences?preference_key=theme', { user })
    expect(await list.json()).toEqual([expect.objectContaining({ id: row.id })])
  })

  it("reads on postgres.js the very rows drizzle's select gives, Dates and all", async () => {
    const user = 'raw-reads@example.com'
    for (const [key, value] of [
      ['theme', theme],
      ['favorite_tables', { tables: ['a', 'b'], nested: { n: 1, t: true, none: null } }],
    ] as const) {
      const made = await stack.call('POST', '/api/preferences', {
        user,
        body: { preference_key: key, preference_value: value },
      })
      expect(made.status).toBe(201)
    }
    const [drizzleList, rawList, drizzleOne, rawOne] = await stack.database.run((db, pg) =>
      Promise.all([
        db
          .select()
          .from(userPreferences)
          .where(eq(userPreferences.user_id, user))
          .orderBy(asc(userPreferences.preference_key)),
        listPreferences(pg, user),
        db
          .select()
          .from(userPreferences)
          .where(
            and(eq(userPreferences.user_id, user), eq(userPreferences.preference_key, 'theme')),
          ),
        getPreference(pg, user, 'theme'),
      ]),
    )
    expect(drizzleList).toHaveLength(2)
    expect(rawList[0]?.created_at).toBeInstanceOf(Date)
    expect([...rawList]).toEqual(drizzleList)
    expect([...rawOne]).toEqual(drizzleOne)
    const listed = await stack.call('GET', '/api/preferences', { user })
    expect(await listed.json()).toEqual(JSON.parse(JSON.stringify(drizzleList)))
  })

  it('creates with PUT when the key is new', async () => {
    const response = await stack.call('PUT', '/api/preferences/favorite_tables', {
      user: 'put-create@example.com',
      body: { preference_value: { tables: ['main.samples.demo'] } },
    })
    expect(response.status).toBe(201)
  })

  it('keeps users apart: one can neither read nor delete another’s preferences', async () => {
    await stack.call('POST', '/api/preferences', {
      user: 'owner@example.com',
      body: { preference_key: 'theme', preference_value: theme },
    })
    const list = await stack.call('GET', '/api/preferences', { user: 'other@example.com' })
    expect(await list.json()).toEqual([])
    expect(
      (await stack.call('GET', '/api/preferences/theme', { user: 'other@example.com' })).status,
    ).toBe(404)
    const del = await stack.call('DELETE', '/api/preferences/theme', { user: 'other@example.com' })
    expect(del.status).toBe(404)
    expect((await errorOf(del)).error_code).toBe('PREFERENCE_NOT_FOUND')
    expect(
      (await stack.call('GET', '/api/preferences/theme', { user: 'owner@example.com' })).status,
    ).toBe(200)
  })

  it('deletes with 204, then answers 404 PREFERENCE_NOT_FOUND', async () => {
    const user = 'delete@example.com'
    await stack.call('POST', '/api/preferences', {
      user,
      body: { preference_key: 'dashboard_layout', preference_value: { columns: 3 } },
    })
    expect((await stack.call('DELETE', '/api/preferences/dashboard_layout', { user })).status).toBe(
      204,
    )
    const again = await stack.call('DELETE', '/api/preferences/dashboard_layout', { user })
    expect(again.status).toBe(404)
    expect((await errorOf(again)).error_code).toBe('PREFERENCE_NOT_FOUND')
  })

  it('answers 40 concurrent upserts of one new key with exactly one 201', async () => {
    const user = 'concurrent@example.com'
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        stack.call('POST', '/api/preferences', {
          user,
          body: { preference_key: 'theme', preference_value: { n: i } },
        }),
      ),
    )
    const statuses = responses.map((r) => r.status).sort()
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 200)).toHaveLength(39)
    const [row] = await stack.db
      .sql`select count(*)::int as n from user_preferences where user_id = ${user}`
    expect(row?.n).toBe(1)
  })

  it.each([
    [
      'a key outside the allowed list',
      { preference_key: 'password', preference_value: {} },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a value that is an array',
      { preference_key: 'theme', preference_value: [1, 2] },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a value that is a string',
      { preference_key: 'theme', preference_value: 'dark' },
      400,
      'INVALID_REQUEST',
    ],
    ['a null value', { preference_key: 'theme', preference_value: null }, 400, 'INVALID_REQUEST'],
    ['no key', { preference_value: {} }, 400, 'INVALID_REQUEST'],
    [
      'a value over 100 KB',
      { preference_key: 'theme', preference_value: { blob: 'x'.repeat(100 * 1024) } },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'a body over the limit',
      { preference_key: 'theme', preference_value: { blob: 'x'.repeat(200 * 1024) } },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    ['malformed JSON', '{"preference_key": "theme", ', 400, 'INVALID_REQUEST'],
  ])('refuses %s with a 4xx and changes nothing', async (_name, body, status, code) => {
    const before = await rowCount()
    const response = await stack.call('POST', '/api/preferences', {
      user: 'bad-input@example.com',
      body,
    })
    expect(response.status).toBe(status)
    expect((await errorOf(response)).error_code).toBe(code)
    expect(await rowCount()).toBe(before)
  })

  it('names the failing fields of an invalid request', async () => {
    const response = await stack.call('POST', '/api/preferences', {
      body: { preference_key: 'nope', preference_value: 3 },
    })
    const detail = await errorOf(response)
    const fields = (detail.technical_details.fields as { field: string }[])
      .map((f) => f.field)
      .sort()
    expect(fields).toEqual(['preference_key', 'preference_value'])
  })

  it('accepts a value of exactly 100 KB', async () => {
    const blob = 'x'.repeat(100 * 1024 - '{"blob":""}'.length)
    const response = await stack.call('POST', '/api/preferences', {
      user: 'big@example.com',
      body: { preference_key: 'theme', preference_value: { blob } },
    })
    expect(response.status).toBe(201)
  })

  it('answers 401 AUTH_REQUIRED behind the Apps proxy when no user header came', async () => {
    const response = await stack.call('GET', '/api/preferences', { user: null })
    expect(response.status).toBe(401)
    expect((await errorOf(response)).error_code).toBe('AUTH_REQUIRED')
  })

  it.each([
    ['GET', '/api/preferences'],
    ['GET', '/api/preferences/theme'],
    ['DELETE', '/api/preferences/theme'],
    ['GET', '/api/inference-logs'],
    ['POST', '/api/inference-logs'],
    ['GET', '/api/model-serving/logs'],
    ['POST', '/api/model-serving/invoke'],
  ] as const)('asks for a user on %s %s, the prefix itself included', async (method, path) => {
    const response = await stack.call(method, path, { user: null })
    expect(response.status).toBe(401)
    expect((await errorOf(response)).error_code).toBe('AUTH_REQUIRED')
  })

  it('echoes X-Request-Id', async () => {
    const response = await stack.call('GET', '/api/preferences', {
      headers: { 'x-request-id': 'req-123' },
    })
    expect(response.headers.get('x-request-id')).toBe('req-123')
  })
})

describe('/api/preferences without trusted headers', () => {
  let local: FunctionsStack
  beforeAll(async () => {
    local = await startFunctionsStack({
      trustForwardedHeaders: false,
      preferenceKeys: ['theme', 'language'],
    })
  })
  afterAll(async () => {
    await local?.close()
  })

  it('ignores X-Forwarded-Email and acts as the dev user', async () => {
    const response = await local.call('POST', '/api/preferences', {
      user: 'attacker@example.com',
      body: { preference_key: 'language', preference_value: { code: 'en' } },
    })
    expect(response.status).toBe(201)
    expect(await response.json()).toMatchObject({ user_id: 'dev-user@example.com' })
    const [row] = await local.db
      .sql`select count(*)::int as n from user_preferences where user_id = 'attacker@example.com'`
    expect(row?.n).toBe(0)
  })

  it('takes the allowed keys from PREFERENCE_KEYS', async () => {
    const response = await local.call('POST', '/api/preferences', {
      body: { preference_key: 'dashboard_layout', preference_value: {} },
    })
    expect(response.status).toBe(400)
  })
})
