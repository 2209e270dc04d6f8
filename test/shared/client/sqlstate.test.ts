import { sql } from 'drizzle-orm'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Db, FunctionsDatabase } from '../../../functions/db/database.js'
import { connectBroker } from '../../../shared/client/broker-client.js'
import { LakebaseError } from '../../../shared/client/errors.js'
import { MAX_CONFLICT_RETRIES } from '../../../shared/postgres/retry-policy.js'
import { errorHandler } from '../../../shared/process/error-handler.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../../support/broker.js'
import { captureLogs } from '../../support/capture-logs.js'
import { adminSql, createTestDatabase, type TestDatabase } from '../../support/postgres.js'
import { rejectionOf } from '../../support/rejection.js'

/**
 * The SQLSTATE table (shared/client/sqlstate.ts), row by row, against the suite's real Postgres:
 * each case makes Postgres produce the error, then checks the answer, whether it was retried,
 * that nothing was written, and that the value it tried to write is in no log line.
 */
const suffix = Math.random().toString(36).slice(2, 8)
const ROLES = {
  limited: `limited_${suffix}`,
  readonly: `readonly_${suffix}`,
  crowded: `crowded_${suffix}`,
}
const ROLE_PASSWORD = 'role-password-9f3a'

let db: TestDatabase
const stacks: { close(): Promise<void> }[] = []

beforeAll(async () => {
  db = await createTestDatabase('sqlstate')
  await db.sql.unsafe(`
    create table witness (v text);
    create function raise_state(code text) returns text language plpgsql as $$
    begin
      perform nextval('attempts');
      raise exception 'raised for the test' using errcode = code;
    end $$;
    create sequence attempts;`)
  const admin = adminSql()
  for (const role of Object.values(ROLES)) {
    await admin.unsafe(`create role "${role}" login password '${ROLE_PASSWORD}'`)
  }
  await admin.unsafe(`alter role "${ROLES.readonly}" set default_transaction_read_only = on`)
  await admin.unsafe(`alter role "${ROLES.crowded}" connection limit 0`)
  await admin.end()
  await db.sql.unsafe(`grant select, insert on witness to "${ROLES.readonly}"`)
}, 60_000)

afterAll(async () => {
  for (const stack of stacks) await stack.close()
  await db?.drop()
  const admin = adminSql()
  for (const role of Object.values(ROLES)) await admin.unsafe(`drop role if exists "${role}"`)
  await admin.end()
})

/** A Database logged in through a real broker as `login` (default: the superuser). */
async function databaseAs(
  login: { user?: string; password?: string; database?: string } = {},
  options: { statementTimeoutMs?: number } = {},
) {
  const { broker } = await startTestBroker({
    PGUSER: login.user ?? 'postgres',
    PGPASSWORD: login.password ?? (login.user ? ROLE_PASSWORD : 'test-superuser-password'),
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: login.database ?? db.database,
    PGSSLMODE: 'disable',
  })
  const logs = captureLogs('db')
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const database = new FunctionsDatabase({
    credentials,
    logger: logs.logger,
    max: 2,
    wakeTimeoutMs: 0,
    ...options,
  })
  stacks.push({
    async close() {
      await database.close()
      await broker.close()
    },
  })
  return { database, logs }
}

interface Case {
  row: string
  login?: { user?: string; password?: string; database?: string }
  statementTimeoutMs?: number
  /** The write that fails; `value` is the user data it carries. */
  write: (db: Db, value: string) => Promise<unknown>
  status: number
  errorCode: string
  retryAfter: number | null
  suggestion?: RegExp
  /** How many retries the log shows (0: not retried). */
  retries: number
  details?: Record<string, unknown>
}

const insertInto = (table: string) => (d: Db, value: string) =>
  d.execute(sql`insert into ${sql.identifier(table)} (v) values (${value})`)
const insertRaising = (code: string) => (d: Db, value: string) =>
  d.execute(sql`insert into witness (v) values (${value} || raise_state(${code}))`)

const CASES: Case[] = [
  {
    row: '42P01 missing table',
    write: insertInto('user_preferences_missing'),
    status: 503,
    errorCode: 'DATABASE_NOT_MIGRATED',
    retryAfter: null,
    suggestion: /npm run migrate.*npx lakebase-broker migrate/,
    retries: 0,
  },
  {
    row: '42703 missing column',
    write: (d, value) => d.execute(sql`insert into witness (no_such_column) values (${value})`),
    status: 503,
    errorCode: 'DATABASE_NOT_MIGRATED',
    retryAfter: null,
    suggestion: /npm run migrate/,
    retries: 0,
  },
  {
    row: '42501 permission denied',
    login: { user: ROLES.limited },
    write: insertInto('witness'),
    status: 503,
    errorCode: 'DATABASE_PERMISSION_DENIED',
    retryAfter: null,
    suggestion: new RegExp(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE witness TO "${ROLES.limited}";`,
    ),
    retries: 0,
    details: { role: ROLES.limited, object: 'table witness' },
  },
  {
    row: '40001 serialization failure',
    write: insertRaising('40001'),
    status: 503,
    errorCode: 'DATABASE_CONFLICT',
    retryAfter: 1,
    retries: MAX_CONFLICT_RETRIES,
  },
  {
    row: '40P01 deadlock',
    write: insertRaising('40P01'),
    status: 503,
    errorCode: 'DATABASE_CONFLICT',
    retryAfter: 1,
    retries: MAX_CONFLICT_RETRIES,
  },
  {
    row: '57014 statement timeout',
    statementTimeoutMs: 100,
    write: (d, value) => d.execute(sql`insert into witness select ${value} from pg_sleep(2)`),
    status: 503,
    errorCode: 'DATABASE_TIMEOUT',
    retryAfter: 5,
    suggestion: /LAKEBASE_STATEMENT_TIMEOUT_MS/,
    retries: 0,
  },
  {
    row: '25006 read-only',
    login: { user: ROLES.readonly },
    write: insertInto('witness'),
    status: 503,
    errorCode: 'DATABASE_UNAVAILABLE',
    retryAfter: 5,
    retries: 0,
    details: { error_type: 'ReadOnly', code: '25006' },
  },
  {
    row: '53300 too many connections',
    login: { user: ROLES.crowded },
    write: insertInto('witness'),
    status: 503,
    errorCode: 'DATABASE_UNAVAILABLE',
    retryAfter: 5,
    retries: 0,
    details: { error_type: 'Busy', code: '53300' },
  },
  {
    // Postgres raises 57P03 only at login while it starts or stops; raised here by a function,
    // mid-statement, it shows the other half of the rule: a write that ran is not retried.
    row: '57P03 starting up or shutting down',
    write: insertRaising('57P03'),
    status: 503,
    errorCode: 'DATABASE_UNAVAILABLE',
    retryAfter: 5,
    retries: 0,
    details: { error_type: 'Busy', code: '57P03' },
  },
  {
    row: '28P01 password refused (every time)',
    login: { user: ROLES.limited, password: 'not-the-password' },
    write: insertInto('witness'),
    status: 503,
    errorCode: 'DATABASE_UNAVAILABLE',
    retryAfter: 5,
    // The first refusal forces a new credential; refused again, the broker can mint no other
    // inside its forced-refresh window (10 s, past the 5 s connect timeout): no third login.
    retries: 2,
    details: { error_type: 'AuthenticationFailed', code: '28P01' },
  },
  {
    row: '3D000 no such database',
    login: { database: `missing_${suffix}` },
    write: insertInto('witness'),
    status: 503,
    errorCode: 'LAKEBASE_NOT_CONFIGURED',
    retryAfter: null,
    suggestion: /PGDATABASE/,
    retries: 0,
  },
  {
    row: '22P02 a value Postgres cannot read',
    write: (d, value) => d.execute(sql`insert into witness (v) values ((${value})::int::text)`),
    status: 400,
    errorCode: 'INVALID_REQUEST',
    retryAfter: null,
    retries: 0,
  },
]

describe('the SQLSTATE table', () => {
  it.each(CASES)('$row → $status $errorCode', async (c) => {
    const { database, logs } = await databaseAs(c.login, {
      ...(c.statementTimeoutMs ? { statementTimeoutMs: c.statementTimeoutMs } : {}),
    })
    const value = `user-data-${c.row.slice(0, 5)}-${suffix}@example.com`
    const err = await rejectionOf(
      database.run((d) => c.write(d, value), { name: 'write witness' }),
      LakebaseError,
    )
    expect(err.status).toBe(c.status)
    expect(err.code).toBe(c.errorCode)
    expect(err.retryAfter).toBe(c.retryAfter)
    const details = err.technicalDetails
    if (c.suggestion) expect(details.suggestion).toMatch(c.suggestion)
    if (c.details) expect(details).toMatchObject(c.details)
    expect(logs.text().match(/"retry":true/g)?.length ?? 0).toBe(c.retries)
    expect(logs.text()).toContain('"operation":"write witness"')
    // Nothing changed, and the value never reached a log line or the answer.
    expect(await db.sql`select count(*)::int as n from witness`).toEqual([{ n: 0 }])
    expect(logs.text()).not.toContain(value)
    expect(JSON.stringify(err.toBody())).not.toContain(value)
  })

  it('is what the error handler answers for a Postgres error nobody caught, with no value logged', async () => {
    const { database } = await databaseAs()
    const logs = captureLogs('app')
    const client = await database.sql()
    const app = new Hono()
      .get('/missing', async (c) => c.json(await client`select * from nowhere_table`))
      .get('/bad-value', async (c) => c.json(await client`select ${'secret-value-4e1d'}::int as n`))
      .get('/bug', () => {
        throw new Error('a bug')
      })
    app.onError(errorHandler(logs.logger))

    const missing = await app.request('/missing')
    expect(missing.status).toBe(503)
    expect(await missing.json()).toMatchObject({
      detail: {
        error_code: 'DATABASE_NOT_MIGRATED',
        technical_details: { suggestion: expect.stringMatching(/npm run migrate/) },
      },
    })
    expect((await app.request('/bad-value')).status).toBe(400)
    expect((await app.request('/bug')).status).toBe(500)
    expect(logs.text()).not.toContain('secret-value-4e1d')
  })
})
