import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type InProcessBroker, startBroker } from 'lakebase-broker/broker'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  type ConsumerProject,
  consumerProject,
  type PackedPackage,
  packPackage,
} from '../support/consumer-project.js'
import { freePort } from '../support/free-port.js'
import { createTestDatabase, type TestDatabase } from '../support/postgres.js'
import { type Spawned, spawnNode, spawnProcess } from '../support/process.js'

/** Registry packages a service has next to ours, at this repository's locked versions. */
const CONSUMER_PACKAGES = [
  'hono',
  '@hono/node-server',
  'postgres',
  'pg',
  'drizzle-orm',
  'typescript',
  '@types/node',
  '@types/pg',
  'kysely',
  '@prisma/adapter-pg',
  'msw',
  'vitest',
]
/** The README sections whose TypeScript blocks a user would paste; each is compiled and run. */
const README_SECTIONS = ['## Use it in your own service', '## Raw credentials, for any driver']
const ENTRIES = [
  'shared',
  'shared/postgres',
  'shared/pg',
  'shared/hono',
  'broker',
  'functions',
  'shared/workspace',
  'testing',
]
const CONSUMER_DIR = new URL('./consumer/', import.meta.url)

let packDir: string
let packed: PackedPackage
let project: ConsumerProject
let db: TestDatabase
let typecheck: string
let examples: string[]
let shellExamples: string[]

beforeAll(async () => {
  packDir = await mkdtemp(join(tmpdir(), 'lakebase-pack-'))
  packed = await packPackage(packDir)
  project = await consumerProject(packed.tarball, CONSUMER_PACKAGES)
  for (const file of ['service.ts', 'tsconfig.json', 'loaded-packages.mjs']) {
    await copyFile(new URL(file, CONSUMER_DIR), join(project.dir, file))
  }
  // The fault kit's test, as a user's own vitest file: it imports the installed package.
  await copyFile(new URL('fault-kit.spec.ts', CONSUMER_DIR), join(project.dir, 'fault-kit.test.ts'))
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  examples = readmeExamples(readme)
  shellExamples = readmeExamples(readme, 'sh')
  for (const [i, code] of examples.entries()) {
    await writeFile(join(project.dir, `readme-${i + 1}.ts`), code)
  }
  db = await createTestDatabase('consumer')
  // Type-checks against the shipped .d.ts, and emits out/ for the service test.
  typecheck = ownTypeErrors(
    await project
      .exec('tsc', ['-p', 'tsconfig.json'])
      .catch((err: { stdout?: string; message: string }) => err.stdout ?? err.message),
  )
}, 600_000)

afterAll(async () => {
  await project?.remove()
  await db?.drop()
  await rm(packDir, { recursive: true, force: true })
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

  it('declares no tsx, and every import of its JavaScript resolves from its own dependencies', async () => {
    const manifest = JSON.parse(
      await readFile(join(project.dir, 'node_modules/lakebase-broker/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> }
    expect(Object.keys(manifest.dependencies)).not.toContain('tsx')
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
      const out = await project.exec('node', ['loaded-packages.mjs', `lakebase-broker${entry}`])
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
  })

  it('runs the fault kit test with vitest, importing lakebase-broker/testing from the tarball', async () => {
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

  it('type-checks a strict TypeScript consumer against the shipped .d.ts', async () => {
    expect(typecheck).toBe('')
  })

  it('runs a Hono service with lakebase() and a pg pool against a broker and a real Postgres', async () => {
    let service: Spawned | undefined
    try {
      service = spawnNode(join(project.dir, 'out/service.js'), [], {
        PGHOST: db.host,
        PGPORT: String(db.port),
        PGDATABASE: db.database,
        PGUSER: 'postgres',
        PGPASSWORD: inject('postgres').password,
        PGSSLMODE: 'disable',
        LAKEBASE_DEV_USER: 'alice@example.com',
      })
      await service.waitFor(/listening http:\/\/\S+/)
      const url = /listening (http:\/\/\S+)/.exec(service.output())?.[1]
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
})

describe("the README's examples, pasted into that service", () => {
  let broker: InProcessBroker
  let env: Record<string, string>
  beforeAll(async () => {
    const pgEnv = {
      PGHOST: db.host,
      PGPORT: String(db.port),
      PGDATABASE: db.database,
      PGUSER: 'postgres',
      PGPASSWORD: inject('postgres').password,
      PGSSLMODE: 'disable',
    }
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
    expect(typecheck).toBe('')
  })

  it('runs every script example to its end, logged in as the broker says', async () => {
    for (const [i, code] of examples.entries()) {
      if (code.includes('serve(')) continue
      const out = await project.exec('node', [`out/readme-${i + 1}.js`], env)
      expect(out, `readme-${i + 1}.ts:\n${code}`).toMatch(/postgres/)
    }
  })

  it('runs the shell examples: one broker on a unix socket, wait, two services and exec', async () => {
    // `npm install …` is the one block not run as written: this project installed the packed
    // tarball instead of the registry's, with the same peers.
    const scripts = shellExamples.filter((code) => !code.trimStart().startsWith('npm install'))
    expect(scripts.length).toBeGreaterThanOrEqual(1)
    for (const [name, as] of [
      ['service-a.js', 'a'],
      ['service-b.js', 'b'],
    ]) {
      await writeFile(
        join(project.dir, name as string),
        `import { brokerCredentials } from 'lakebase-broker'\nconsole.log('service ${as} logs in as', (await brokerCredentials().get()).user)\n`,
      )
    }
    const home = await mkdtemp(join(tmpdir(), 'lakebase-home-'))
    try {
      for (const [i, code] of scripts.entries()) {
        const file = join(project.dir, `readme-${i + 1}.sh`)
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
            PATH: `${join(project.dir, 'node_modules', '.bin')}:${process.env.PATH}`,
          },
          { cwd: project.dir },
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
    const service = spawnNode(join(project.dir, `out/readme-${index + 1}.js`), [], {
      ...env,
      PORT: port,
      LAKEBASE_DEV_USER: 'bob@example.com',
    })
    try {
      const body = await waitForJson(`http://127.0.0.1:${port}/api/me`)
      expect(body).toEqual({ user: 'bob@example.com', role: 'postgres' })
    } finally {
      await service.kill()
    }
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
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await (await fetch(url)).json()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
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
