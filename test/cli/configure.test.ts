import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { select } from '@inquirer/prompts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBrokerFromConfig } from '../../broker/broker.js'
import { resolveBrokerConfig } from '../../broker/config.js'
import { configure, type SelectPrompt } from '../../cli/setup/configure.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { loadEnv } from '../../shared/process/env.js'
import { TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { configureIo } from '../support/configure-io.js'
import { freePort } from '../support/free-port.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'
import { spawnTs } from '../support/process.js'
import {
  autoscalingListing,
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceServer,
  serveMockWorkspace,
} from '../testing/workspace/index.js'

const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'

describe('npm run configure -- --check-only', () => {
  let workspace: MockWorkspace
  let server: MockWorkspaceServer
  beforeAll(async () => {
    workspace = createMockWorkspace({
      host: `http://127.0.0.1:${await freePort()}`,
      instances: [{ name: 'orders' }],
    })
    server = await workspace.listen()
  })
  afterAll(async () => {
    await server?.close()
  })

  it('exits 1 with nothing set, naming each missing setting and its fix', async () => {
    const dir = await tempDir('lakebase-configure-')
    const child = spawnTs('cli/main.ts', ['configure', '--check-only', '--dir', dir], { HOME: dir })
    expect(await child.exited).toBe(1)
    const output = child.output()
    expect(output).toMatch(/DATABRICKS_HOST\s+MISSING/)
    expect(output).toMatch(/LAKEBASE_INSTANCE_NAME\s+MISSING/)
    expect(output).toContain('fix: run `npm run configure`')
  })

  it('exits 0 when the settings are complete, and names PGUSER=token as wrong when it is not', async () => {
    const dir = await tempDir('lakebase-configure-')
    const env = {
      HOME: dir,
      DATABRICKS_HOST: workspace.host,
      DATABRICKS_TOKEN: workspace.pat,
      LAKEBASE_INSTANCE_NAME: 'orders',
    }
    const good = configureIo({ cwd: dir, env })
    expect(await configure(['--check-only'], good.io)).toBe(0)
    expect(good.output()).toMatch(/workspace sign-in\s+ok\s+pat/)
    // What the original app reads is not written yet: a note, which fails nothing.
    expect(good.output()).toMatch(
      /PGHOST\s+note\s+unset: configure writes instance-\S+, which the original app reads/,
    )

    await writeFile(join(dir, '.env.local'), 'PGUSER=token\n')
    const bad = configureIo({ cwd: dir, env })
    expect(await configure(['--check-only'], bad.io)).toBe(1)
    expect(bad.output()).toMatch(
      /PGUSER\s+WRONG\s+is "token": Postgres answers role "token" does not exist/,
    )
  })
})

describe('npm run configure against a workspace on loopback', () => {
  let lakebase: LakebaseLike

  beforeAll(async () => {
    lakebase = await lakebaseLike({
      lifetimeS: 3600,
      // The instance's host is the test's Postgres, so the written settings log in for real.
      workspace: { instances: [{ name: 'orders-db', read_write_dns: '127.0.0.1' }] },
    })
  })
  afterAll(async () => {
    await lakebase?.close()
  })

  it('--instance NAME writes a working .env.local, keeping what was there and no secret', async () => {
    const dir = await tempDir('lakebase-configure-')
    const envFile = join(dir, '.env.local')
    const before = [
      '# my local settings',
      'FAVOURITE_COLOUR=green',
      'PGUSER=token',
      'PGHOST=127.0.0.1',
      `PGPORT=${lakebase.db.port}`,
      `PGDATABASE=${lakebase.db.database}`,
      'PGSSLMODE=disable',
      '',
    ].join('\n')
    await writeFile(envFile, before)
    const child = spawnTs(
      'cli/main.ts',
      ['configure', '--instance', 'orders-db', '--host', lakebase.workspace.host, '--dir', dir],
      { HOME: dir, DATABRICKS_TOKEN: lakebase.workspace.pat },
    )
    expect(await child.exited, child.output()).toBe(0)
    expect(child.output()).toContain(
      'DATABRICKS_TOKEN came from the environment and is not written',
    )

    const written = await readFile(envFile, 'utf8')
    expect(written).toContain('# my local settings\nFAVOURITE_COLOUR=green\n')
    expect(written).toMatch(/^# PGUSER=token$/m)
    expect(written).toContain(`DATABRICKS_HOST=${lakebase.workspace.host}\n`)
    expect(written).toContain('LAKEBASE_INSTANCE_NAME=orders-db\n')
    expect(written).not.toContain(lakebase.workspace.pat)

    // Working: a broker configured from it (plus the token the shell exports) logs in.
    const env = loadEnv(dir, {
      DATABRICKS_TOKEN: lakebase.workspace.pat,
      BROKER_TOKEN: TEST_CLIENT_TOKEN,
      BROKER_PORT: '0',
    })
    const broker = await startBrokerFromConfig({
      config: resolveBrokerConfig(env),
      logger: captureLogs('broker').logger,
    })
    try {
      const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
      const migrated = await migrateViaBroker(credentials)
      expect(migrated).toMatchObject({ user: lakebase.role, database: lakebase.db.database })
    } finally {
      await broker.close()
    }
  })

  it('--save-token writes the workspace token too, owner-only', async () => {
    const dir = await tempDir('lakebase-configure-')
    const run = configureIo({
      cwd: dir,
      env: {
        HOME: dir,
        DATABRICKS_HOST: lakebase.workspace.host,
        DATABRICKS_TOKEN: lakebase.workspace.pat,
      },
    })
    expect(await configure(['--instance', 'orders-db', '--save-token'], run.io)).toBe(0)
    const written = await readFile(join(dir, '.env.local'), 'utf8')
    expect(written).toContain(`DATABRICKS_TOKEN=${lakebase.workspace.pat}`)
    expect((await stat(join(dir, '.env.local'))).mode & 0o777).toBe(0o600)
    expect(run.output()).toContain('DATABRICKS_TOKEN=<hidden>')
    expect(run.output()).not.toContain(lakebase.workspace.pat)
  })

  it('names an unknown instance and writes nothing', async () => {
    const dir = await tempDir('lakebase-configure-')
    const run = configureIo({
      cwd: dir,
      env: {
        HOME: dir,
        DATABRICKS_HOST: lakebase.workspace.host,
        DATABRICKS_TOKEN: lakebase.workspace.pat,
      },
    })
    expect(await configure(['--instance', 'nope'], run.io)).toBe(1)
    expect(run.output()).toContain(`no instance nope in ${lakebase.workspace.host}`)
    await expect(stat(join(dir, '.env.local'))).rejects.toThrow()
  })
})

describe('npm run configure, choosing from the list', () => {
  let server: MockWorkspaceServer
  let workspace: MockWorkspace

  beforeAll(async () => {
    workspace = createMockWorkspace({
      host: `http://127.0.0.1:${await freePort()}`,
      instances: [
        { name: 'orders-db', state: 'AVAILABLE' },
        { name: 'staging-db', state: 'STARTING' },
      ],
      endpoints: [{ name: ENDPOINT, current_state: 'IDLE' }],
    })
    const listing = autoscalingListing(workspace)
    server = await serveMockWorkspace(workspace.host, [...workspace.handlers, ...listing.handlers])
  })
  afterAll(async () => {
    await server?.close()
  })

  it('lists Provisioned instances and Autoscaling endpoints with their state and asks which', async () => {
    const dir = await tempDir('lakebase-configure-')
    // The real @inquirer/prompts select, driven through its own input and output streams.
    const input = new PassThrough()
    const output = new PassThrough()
    let screen = ''
    output.on('data', (chunk: Buffer) => {
      screen += chunk.toString('utf8')
    })
    const prompted = new Promise<void>((resolve) => {
      const check = () => (screen.includes('Which Lakebase database') ? resolve() : undefined)
      output.on('data', check)
    })
    const realSelect: SelectPrompt = (config) => select(config, { input, output })
    const run = configureIo({
      cwd: dir,
      env: { HOME: dir, DATABRICKS_HOST: workspace.host, DATABRICKS_TOKEN: workspace.pat },
      interactive: true,
      select: realSelect,
    })
    const done = configure([], run.io)
    await prompted
    // Down twice (past staging-db) to the endpoint, then Enter.
    input.write('\u001b[B')
    input.write('\u001b[B')
    input.write('\r')
    expect(await done).toBe(0)

    expect(run.output()).toMatch(/orders-db\s+Provisioned\s+AVAILABLE/)
    expect(run.output()).toMatch(/staging-db\s+Provisioned\s+STARTING/)
    expect(run.output()).toMatch(new RegExp(`${ENDPOINT}\\s+Autoscaling\\s+IDLE`))
    expect(screen).toContain('orders-db  (Provisioned, AVAILABLE)')
    const written = await readFile(join(dir, '.env.local'), 'utf8')
    expect(written).toContain(`LAKEBASE_ENDPOINT=${ENDPOINT}\n`)
    expect(written).not.toContain('LAKEBASE_INSTANCE_NAME')
  })

  it('--endpoint PATH switches .env.local from an instance to that endpoint', async () => {
    const dir = await tempDir('lakebase-configure-')
    await writeFile(join(dir, '.env.local'), 'LAKEBASE_INSTANCE_NAME=orders-db\n')
    const run = configureIo({
      cwd: dir,
      env: { HOME: dir, DATABRICKS_HOST: workspace.host, DATABRICKS_TOKEN: workspace.pat },
    })
    expect(await configure(['--endpoint', ENDPOINT], run.io)).toBe(0)
    const written = await readFile(join(dir, '.env.local'), 'utf8')
    expect(written).toContain('# LAKEBASE_INSTANCE_NAME=orders-db\n')
    expect(written).toContain(`LAKEBASE_ENDPOINT=${ENDPOINT}\n`)
    expect(run.output()).toContain('LAKEBASE_INSTANCE_NAME commented out (replaced by an endpoint)')
  })

  it('without a terminal and without --instance, lists them and asks for a flag', async () => {
    const dir = await tempDir('lakebase-configure-')
    const run = configureIo({
      cwd: dir,
      env: { HOME: dir, DATABRICKS_HOST: workspace.host, DATABRICKS_TOKEN: workspace.pat },
    })
    expect(await configure([], run.io)).toBe(2)
    expect(run.output()).toContain('staging-db')
    expect(run.output()).toContain('--instance NAME')
  })
})
