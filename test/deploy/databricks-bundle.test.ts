import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ROOT } from '../support/process.js'

/**
 * The official schema, vendored unmodified with its Databricks License
 * (vendor/databricks-bundle-schema/SOURCES.md), so these run on every clone.
 */
const SCHEMA_DIR = join(ROOT, 'vendor', 'databricks-bundle-schema')
const SCHEMA_PATH = join(SCHEMA_DIR, 'databricks-bundle.schema.json')
/** The CLI v1.13.0 schema's sha256, as SOURCES.md records it. */
const SCHEMA_SHA256 = 'e9d3a73f1e02461b0fb9e88b8c487134025b7d2abe45ef736260e842d90b522c'

type Json = Record<string, unknown>
/** A bundle interpolation, `${expr}` (spelled out so it is not read as a template literal). */
const ref = (expr: string) => `$${'{'}${expr}}`
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, navigated by the tests
type Doc = any

const bundleText = readFileSync(join(ROOT, 'databricks.yml'), 'utf8')
const bundle = (): Doc => parse(bundleText)
const appYaml: Doc = parse(readFileSync(join(ROOT, 'app.yaml'), 'utf8'))
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
}

/** The deepest errors only: a failed `oneOf` also reports every branch it did not take. */
function deepest(errors: readonly ErrorObject[] | null | undefined): string[] {
  const all = errors ?? []
  const depth = Math.max(0, ...all.map((e) => e.instancePath.split('/').length))
  return all
    .filter((e) => e.instancePath.split('/').length === depth)
    .map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}

describe('the vendored bundle schema', () => {
  it('is the unmodified file SOURCES.md names, with its licence beside it', () => {
    const text = readFileSync(SCHEMA_PATH)
    expect(createHash('sha256').update(text).digest('hex')).toBe(SCHEMA_SHA256)
    expect(readFileSync(join(SCHEMA_DIR, 'SOURCES.md'), 'utf8')).toContain(SCHEMA_SHA256)
    expect(readFileSync(join(SCHEMA_DIR, 'DATABRICKS-LICENSE.txt'), 'utf8')).toMatch(
      /^\s*Databricks License\s+Copyright \(2022\) Databricks, Inc\./,
    )
  })
})

describe('databricks.yml against the official bundle schema', () => {
  let validate: ValidateFunction

  beforeAll(() => {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Json
    // strict: false for its editor keywords (markdownDescription, …); unicodeRegExp stays on for
    // its \p{L} patterns.
    validate = new Ajv({ strict: false, allErrors: true }).compile(schema)
  })

  it('is valid', () => {
    const valid = validate(bundle())
    expect(deepest(validate.errors), 'schema errors').toEqual([])
    expect(valid).toBe(true)
  })

  it('fails on a broken copy, naming where', () => {
    const broken = bundle()
    broken.resources.apps.lakebase_app.resources[0].database.permission = 'CAN_READ'
    broken.resources.database_instances.lakebase.capacty = 'CU_1'
    expect(validate(broken)).toBe(false)
    const errors = deepest(validate.errors).join('\n')
    expect(errors).toContain('/resources/apps/lakebase_app/resources/0/database/permission')
    expect(
      (validate.errors ?? []).some(
        (e) =>
          e.instancePath === '/resources/database_instances/lakebase' &&
          e.keyword === 'additionalProperties' &&
          e.params.additionalProperty === 'capacty',
      ),
    ).toBe(true)
  })

  it('is valid with the commented Autoscaling resource in place of the Provisioned one', () => {
    const block = /# >>> autoscaling\n([\s\S]*?)\n\s*# <<< autoscaling/.exec(bundleText)?.[1]
    expect(block, 'the Autoscaling block between its markers').toBeDefined()
    const resources = parse(
      (block as string)
        .split('\n')
        .map((line) => line.replace(/^\s*# ?/, ''))
        .join('\n'),
    )
    expect(resources).toEqual([
      expect.objectContaining({
        postgres: expect.objectContaining({ permission: 'CAN_CONNECT_AND_CREATE' }),
      }),
    ])
    const variant = bundle()
    variant.variables.postgres_project = { default: 'lakebase' }
    variant.resources.apps.lakebase_app.resources = resources
    const valid = validate(variant)
    expect(deepest(validate.errors)).toEqual([])
    expect(valid).toBe(true)
  })
})

describe('databricks.yml', () => {
  it('has a Provisioned CU_1 instance, its catalog, and an app with a CAN_CONNECT_AND_CREATE database resource', () => {
    const doc = bundle()
    expect(doc.resources.database_instances.lakebase).toMatchObject({
      name: ref('var.instance_name'),
      capacity: 'CU_1',
    })
    expect(doc.resources.database_catalogs.lakebase_catalog).toMatchObject({
      database_instance_name: ref('resources.database_instances.lakebase.name'),
      create_database_if_not_exists: true,
    })
    const app = doc.resources.apps.lakebase_app
    expect(app.source_code_path).toBe('.')
    expect(app.resources[0].database).toMatchObject({
      instance_name: ref('resources.database_instances.lakebase.name'),
      permission: 'CAN_CONNECT_AND_CREATE',
    })
    expect(doc.targets.dev).toMatchObject({ default: true, mode: 'development' })
    expect(doc.targets.prod).toMatchObject({ mode: 'production' })
  })
})

describe('app.yaml', () => {
  it('runs an npm script that starts the compiled production entry', () => {
    expect(appYaml.command).toEqual(['npm', 'run', 'serve'])
    const script = packageJson.scripts.serve
    // `exec`: npm's shell becomes node, so the platform's signals reach the server itself.
    expect(script).toBe('exec node dist/cli/main.js serve')
    // Databricks Apps runs `npm run build` when package.json has one; it emits dist/cli/main.js.
    expect(packageJson.scripts.build).toMatch(/tsc -p tsconfig\.build\.json/)
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[]
      compilerOptions: { outDir: string; rootDir: string }
    }
    expect(build.include).toEqual(expect.arrayContaining(['cli', 'functions', 'shared']))
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' })
    expect(existsSync(join(ROOT, 'cli', 'main.ts'))).toBe(true)
    // Started by hand without a build, `npm run serve` builds first.
    expect(packageJson.scripts.preserve).toContain('npm run build')
  })

  it('names the same instance as databricks.yml, in every target, and carries no secret', () => {
    const env = appYaml.env as Array<{ name: string; value?: string; valueFrom?: string }>
    for (const entry of env) {
      expect(Object.keys(entry).sort()).toEqual(
        ['name', entry.value === undefined ? 'valueFrom' : 'value'].sort(),
      )
    }
    const instance = env.find((e) => e.name === 'LAKEBASE_INSTANCE_NAME')?.value
    const doc = bundle()
    expect(instance).toBe(doc.variables.instance_name.default)
    for (const target of Object.values(doc.targets) as Doc[]) {
      expect(target.variables?.instance_name).toBeUndefined()
    }
    const names = env.map((e) => e.name)
    for (const secret of ['PGPASSWORD', 'DATABRICKS_TOKEN', 'DATABRICKS_CLIENT_SECRET']) {
      expect(names).not.toContain(secret)
    }
    // NODE_ENV=production would make Databricks Apps skip the devDependencies the build needs.
    expect(names).not.toContain('NODE_ENV')
  })
})
