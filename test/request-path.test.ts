import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../functions/db/migrate.js'
import { staticBrokerEnv } from './support/broker.js'
import { createTestDatabase, type TestDatabase } from './support/postgres.js'

/**
 * Issue 24's measure of the house: how many of the project's own files a request passes through,
 * over real HTTP, counted by V8 in a plain Node process (test/support/request-path-probe.ts). The
 * README's "Architecture" walks the same paths. The issue counted 10 and 12 by reading the code;
 * this probe, run on the tree before the issue's moves (a85591f), counts 10 and 14 (it also sees
 * the clock, the telemetry wrapper and the HTTP server run): the bounds are those.
 */
const BROKER_HIT_FILES = 10
const PREFERENCE_READ_FILES = 14
const run = promisify(execFile)
let db: TestDatabase
let measured: { brokerHit: string[]; preferenceRead: string[] }

beforeAll(async () => {
  db = await createTestDatabase('path')
  await runMigrations(db.sql)
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'test/support/request-path-probe.ts'],
    {
      env: { ...process.env, ...staticBrokerEnv(db) },
    },
  )
  measured = JSON.parse(stdout)
  if (process.env.SHOW_FIGURES) console.log(measured)
}, 60_000)
afterAll(async () => {
  await db?.drop()
})

describe('the files a request passes through', () => {
  it(`a broker hit: at most ${BROKER_HIT_FILES}`, () => {
    expect(measured.brokerHit).toContain('broker/fast-path.ts')
    expect(measured.brokerHit.length).toBeLessThanOrEqual(BROKER_HIT_FILES)
  })

  it(`GET /api/preferences/{key}: at most ${PREFERENCE_READ_FILES}`, () => {
    expect(measured.preferenceRead).toContain('functions/routes/preferences.ts')
    expect(measured.preferenceRead.length).toBeLessThanOrEqual(PREFERENCE_READ_FILES)
  })
})
