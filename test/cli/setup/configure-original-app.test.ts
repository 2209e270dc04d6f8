import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { configure } from '../../../cli/setup/configure.js'
import { connectBroker } from '../../../shared/client/broker-client.js'
import type { Env } from '../../../shared/process/env.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../../support/broker.js'
import { configureIo } from '../../support/configure-io.js'
import { freePort } from '../../support/free-port.js'
import {
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceServer,
} from '../../testing/workspace/index.js'

const INSTANCE = 'orders-db'
/** An instance that does not accept connections yet. */
const STARTING = 'staging-db'
const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'
const OTHER_ENDPOINT = 'projects/shop/branches/dev/endpoints/primary'

let workspace: MockWorkspace
let server: MockWorkspaceServer
const cleanup: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  workspace = createMockWorkspace({
    host: `http://127.0.0.1:${await freePort()}`,
    instances: [{ name: INSTANCE }, { name: STARTING, state: 'STARTING' }],
    endpoints: [{ name: ENDPOINT }, { name: OTHER_ENDPOINT }],
  })
  server = await workspace.listen()
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})
afterAll(async () => {
  await server?.close()
})

/** The two kinds of Lakebase database, as configure is told to pick one and names it. */
const KINDS = [
  {
    kind: 'Provisioned',
    args: ['--instance', INSTANCE],
    variable: 'LAKEBASE_INSTANCE_NAME',
    name: INSTANCE,
    host: () => workspace.instances.get(INSTANCE)?.read_write_dns as string,
  },
  {
    kind: 'Autoscaling',
    args: ['--endpoint', ENDPOINT],
    variable: 'LAKEBASE_ENDPOINT',
    name: ENDPOINT,
    host: () => workspace.endpoints.get(ENDPOINT)?.host as string,
  },
] as const

/** configure in-process in a fresh project folder, signed in with the kit's token from the shell. */
async function project(envLocal?: string) {
  const dir = await tempDir('lakebase-configure-app-')
  const envFile = join(dir, '.env.local')
  if (envLocal !== undefined) await writeFile(envFile, envLocal)
  const shell: Env = { HOME: dir, DATABRICKS_HOST: workspace.host, DATABRICKS_TOKEN: workspace.pat }
  const run = async (args: readonly string[]) => {
    const { io, output } = configureIo({ cwd: dir, env: shell })
    const code = await configure(args, io)
    return { code, output: output() }
  }
  const text = () => readFile(envFile, 'utf8')
  const written = async () => parseEnv(await text()) as Env
  return { dir, shell, run, text, written }
}

/** What the broker itself resolves for `env`: the credential's host, port and database. */
async function brokerResolves(env: Env) {
  const { broker } = await startTestBroker(env)
  cleanup.push(() => broker.close())
  const credential = await connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }).get()
  return { host: credential.host, port: credential.port, database: credential.database }
}

describe.each(KINDS)('configure for a Lakebase $kind database', (k) => {
  it('writes PGHOST, LAKEBASE_HOST, LAKEBASE_PORT and LAKEBASE_DATABASE as the broker resolves them', async () => {
    const { shell, run, written } = await project()
    const { code, output } = await run(k.args)
    expect(code, output).toBe(0)
    const env = await written()
    expect(env).toMatchObject({
      DATABRICKS_HOST: workspace.host,
      [k.variable]: k.name,
      PGHOST: k.host(),
      LAKEBASE_HOST: k.host(),
      LAKEBASE_PORT: '5432',
      LAKEBASE_DATABASE: 'databricks_postgres',
    })
    expect(output).toMatch(new RegExp(`PGHOST\\s+ok\\s+${k.host()} \\(written\\)`))

    // The broker, given only the workspace and the database's name, resolves the same.
    const resolved = await brokerResolves({
      ...shell,
      DATABRICKS_HOST: env.DATABRICKS_HOST,
      [k.variable]: k.name,
    })
    expect(resolved).toEqual({
      host: env.PGHOST,
      port: Number(env.LAKEBASE_PORT),
      database: env.LAKEBASE_DATABASE,
    })

    // --check-only reports the same, all agreeing.
    const check = await run(['--check-only'])
    expect(check.code, check.output).toBe(0)
    for (const name of ['PGHOST', 'LAKEBASE_HOST', 'LAKEBASE_PORT', 'LAKEBASE_DATABASE']) {
      expect(check.output).toMatch(new RegExp(`${name}\\s+ok\\s+\\S+ \\(written by configure\\)`))
    }
  })

  it('keeps values written by hand, warns where they disagree, and --check-only says the same without writing', async () => {
    const before = [
      '# mine',
      `${k.variable}=${k.name}`,
      'PGHOST=old-branch.example.com',
      'PGPORT=5432',
      'LAKEBASE_PORT=6543',
      'LAKEBASE_DATABASE=appdb',
      '',
    ].join('\n')
    const { shell, run, text, written } = await project(before)
    const hostWarning = new RegExp(
      `PGHOST\\s+WARNING\\s+old-branch\\.example\\.com \\(yours, kept\\), but ${k.name}'s host is ${k.host().replaceAll('.', '\\.')}`,
    )
    const portWarning =
      /LAKEBASE_PORT\s+WARNING\s+6543 \(yours, kept\), but the broker uses 5432 \(from PGPORT\)/
    const databaseKept = /LAKEBASE_DATABASE\s+ok\s+appdb \(yours, kept\)/

    // Reported before anything is written: warnings do not fail the check; nothing changes.
    const check = await run(['--check-only'])
    expect(check.code, check.output).toBe(0)
    expect(check.output).toMatch(hostWarning)
    expect(check.output).toMatch(portWarning)
    expect(check.output).toMatch(databaseKept)
    expect(check.output).toMatch(
      /LAKEBASE_HOST\s+note\s+unset: configure writes old-branch\.example\.com, which the original app reads/,
    )
    expect(check.output).toMatch(/fix: set it to 5432, or remove it and run `npm run configure`/)
    expect(await text()).toBe(before)

    const first = await run(k.args)
    expect(first.code, first.output).toBe(0)
    expect(first.output).toMatch(hostWarning)
    expect(first.output).toMatch(portWarning)
    expect(first.output).toMatch(databaseKept)
    // Kept as written, in place; the rest written to agree with the broker, which takes the
    // hand-written host.
    expect(await text()).toContain(before.replace('# mine\n', ''))
    const env = await written()
    expect(env.LAKEBASE_HOST).toBe('old-branch.example.com')
    expect(await brokerResolves({ ...shell, ...env })).toEqual({
      host: env.LAKEBASE_HOST,
      port: 5432,
      database: env.LAKEBASE_DATABASE,
    })

    // Checked again: the same warnings, what configure wrote agrees, and still nothing changes.
    const after = await text()
    const again = await run(['--check-only'])
    expect(again.code, again.output).toBe(0)
    expect(again.output).toMatch(hostWarning)
    expect(again.output).toMatch(portWarning)
    expect(again.output).toMatch(
      /LAKEBASE_HOST\s+ok\s+old-branch\.example\.com \(written by configure\)/,
    )
    expect(await text()).toBe(after)
  })
})

describe('configure, run again for another database', () => {
  it('rewrites the host it wrote itself, which --check-only names as stale', async () => {
    const { dir, run, text, written } = await project()
    expect((await run(['--endpoint', ENDPOINT])).code).toBe(0)
    const first = workspace.endpoints.get(ENDPOINT)?.host as string
    const other = workspace.endpoints.get(OTHER_ENDPOINT)?.host as string
    expect((await written()).PGHOST).toBe(first)

    // The endpoint changed by hand: the host configure wrote is now another branch's.
    await writeFile(
      join(dir, '.env.local'),
      (await text()).replace(
        `LAKEBASE_ENDPOINT=${ENDPOINT}`,
        `LAKEBASE_ENDPOINT=${OTHER_ENDPOINT}`,
      ),
    )
    const check = await run(['--check-only'])
    expect(check.code, check.output).toBe(0)
    expect(check.output).toMatch(
      new RegExp(`PGHOST\\s+note\\s+${first}, stale: configure writes ${other}`),
    )

    const switched = await run(['--endpoint', OTHER_ENDPOINT])
    expect(switched.code, switched.output).toBe(0)
    expect(await written()).toMatchObject({
      LAKEBASE_ENDPOINT: OTHER_ENDPOINT,
      PGHOST: other,
      LAKEBASE_HOST: other,
    })
    expect(switched.output).not.toContain('WARNING')
    // Its one block, updated in place.
    expect((await text()).match(/# Set by npm run configure/g)).toHaveLength(1)
  })
})

describe('configure for a database that is not accepting connections yet', () => {
  it('writes the host its listing names, the one the broker looks up once it is ready', async () => {
    const { run, written } = await project()
    const { code, output } = await run(['--instance', STARTING])
    expect(code, output).toBe(0)
    expect(output).toContain(`Note: ${STARTING} is STARTING`)
    const host = workspace.instances.get(STARTING)?.read_write_dns
    expect(await written()).toMatchObject({ PGHOST: host, LAKEBASE_HOST: host })
  })
})
