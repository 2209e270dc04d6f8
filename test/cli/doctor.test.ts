import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { type CheckResult, doctor, runChecks } from '../../cli/setup/doctor.js'
import { runMigrations } from '../../functions/db/migrate.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { spawnTs } from '../support/process.js'

const CHECKS = [
  'settings',
  'workspace auth',
  'instance state',
  'credential',
  'username',
  'TLS',
  'Postgres login',
  'migrations',
  'grants',
  'broker',
]

const byCheck = (results: CheckResult[]) =>
  Object.fromEntries(results.map((r) => [r.check, r.status]))

describe('npm run doctor', () => {
  let lakebase: LakebaseLike
  let broker: RunningBroker
  let home: string
  let env: Record<string, string>

  beforeAll(async () => {
    lakebase = await lakebaseLike({ lifetimeS: 3600 })
    ;({ broker } = await startTestBroker(lakebase.brokerEnv))
    await migrateViaBroker(connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }))
    home = await tempDir('lakebase-doctor-')
    env = {
      ...lakebase.brokerEnv,
      HOME: home,
      LAKEBASE_BROKER_URL: broker.url,
      LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
    }
  })
  afterAll(async () => {
    await broker?.close()
    await lakebase?.close()
  })

  it('prints one table, every link passing, and exits 0', async () => {
    const child = spawnTs('cli/main.ts', ['doctor', '--dir', home], env)
    expect(await child.exited, child.output()).toBe(0)
    const output = child.output()
    expect(output).toMatch(/^check\s+result\s+detail$/m)
    for (const check of CHECKS) expect(output).toMatch(new RegExp(`^${check}\\s+pass\\s`, 'm'))
    expect(output).toContain(`${lakebase.role} (from the token's sub)`)
    expect(output).toContain('Every link works.')
    for (const token of lakebase.workspace.minted) expect(output).not.toContain(token)
  })

  it('exits 1 on a broken link, with its fix, and skips what depends on it', async () => {
    const instance = lakebase.workspace.instances.get(lakebase.workspace.instanceName)
    if (!instance) throw new Error('no instance')
    instance.state = 'STARTING'
    try {
      const lines: string[] = []
      const code = await doctor(['--dir', home], { env, cwd: home, out: (t) => lines.push(t) })
      expect(code).toBe(1)
      const output = lines.join('\n')
      expect(output).toMatch(/^instance state\s+FAIL\s+test-instance is STARTING$/m)
      expect(output).toMatch(/^\s+fix: wait until it is AVAILABLE/m)
      expect(output).toMatch(/^credential\s+skip\s+needs instance state$/m)
      expect(output).toMatch(/^Postgres login\s+skip\s+needs username$/m)
      expect(output).toMatch(/^broker\s+pass\s/m)
      expect(output).toContain('1 broken: instance state.')
    } finally {
      instance.state = 'AVAILABLE'
    }
  })

  it('names the fix for a deleted instance and a missing grant', async () => {
    const ws = lakebase.workspace
    ws.script('getInstance', { status: 404, error_code: 'RESOURCE_DOES_NOT_EXIST' })
    const deleted = await runChecks(env)
    expect(deleted.find((r) => r.check === 'instance state')).toMatchObject({
      status: 'FAIL',
      fix: expect.stringMatching(/does not exist \(deleted or misspelled\).*npm run configure/),
    })
    ws.script('getInstance', { status: 403 })
    const denied = await runChecks(env)
    expect(denied.find((r) => r.check === 'instance state')).toMatchObject({
      status: 'FAIL',
      fix: expect.stringMatching(/^grant this identity access.*CAN_USE/),
    })
  })

  it('names the original app’s failures: PGUSER=token and LAKEBASE_NOT_CONFIGURED', async () => {
    const token = await runChecks({ ...env, PGUSER: 'token' })
    expect(token[0]).toMatchObject({
      check: 'settings',
      status: 'FAIL',
      detail: expect.stringContaining('role "token" does not exist'),
      fix: expect.stringContaining('unset PGUSER'),
    })
    expect(byCheck(token)['workspace auth']).toBe('skip')

    const nothing = await runChecks({ HOME: home })
    expect(nothing[0]).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('LAKEBASE_NOT_CONFIGURED'),
      fix: expect.stringContaining('npm run configure'),
    })
  })

  it('tells a role Postgres lacks from a wrong token, and a refused broker client', async () => {
    const stranger = await runChecks({ ...env, PGUSER: 'stranger@example.com' })
    expect(stranger.find((r) => r.check === 'username')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('password authentication failed'),
      fix: `unset PGUSER, or set it to ${lakebase.role}`,
    })

    const refused = await runChecks({ ...env, LAKEBASE_BROKER_TOKEN: 'not-the-token-at-all' })
    expect(refused.find((r) => r.check === 'broker')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining('BROKER_UNAUTHORIZED'),
      fix: expect.stringContaining('LAKEBASE_BROKER_TOKEN'),
    })
  })

  it('reports pending migrations with the command that applies them', async () => {
    const fresh = await lakebaseLike({ lifetimeS: 3600 })
    try {
      const results = await runChecks({ ...fresh.brokerEnv, HOME: home })
      expect(results.find((r) => r.check === 'Postgres login')?.status).toBe('pass')
      expect(results.find((r) => r.check === 'migrations')).toMatchObject({
        status: 'FAIL',
        detail: expect.stringMatching(/^0 of \d+ applied$/),
        fix: expect.stringContaining('npm run migrate'),
      })
    } finally {
      await fresh.close()
    }
  })

  it('checks the grants of the role and prints the SQL the owner should run', async () => {
    // Tables made by someone else (the superuser), used by an app's role with only what a
    // Databricks App's database resource grants: CONNECT and CREATE on the database.
    const apps = await lakebaseLike({ lifetimeS: 3600, grants: 'apps' })
    try {
      await runMigrations(apps.db.sql)
      const before = (await runChecks({ ...apps.brokerEnv, HOME: home })).find(
        (r) => r.check === 'grants',
      )
      expect(before).toMatchObject({
        status: 'FAIL',
        detail: expect.stringContaining(`${apps.role} lacks SELECT, INSERT, UPDATE, DELETE on`),
        fix: expect.stringContaining(
          `GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."user_preferences" TO "${apps.role}";`,
        ),
      })
      // The printed SQL, run as the owner, is all it takes.
      const sqlToRun = before?.fix?.split('run: ')[1] ?? ''
      await apps.db.sql.unsafe(sqlToRun)
      const after = (await runChecks({ ...apps.brokerEnv, HOME: home })).find(
        (r) => r.check === 'grants',
      )
      expect(after).toMatchObject({ status: 'pass', detail: expect.stringContaining('2 of 2') })
    } finally {
      await apps.close()
    }
  })
})
