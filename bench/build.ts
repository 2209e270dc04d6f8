import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The compiled entries the bench runs as child processes. */
export interface BuiltEntries {
  broker: string
  functions: string
  functionsStatic: string
  bareHono: string
  bareNode: string
  perConnection: string
  lakebaseSdk: string
  bareStack: string
  entryRoute: string
  credentialClients: string
}

/**
 * Compiles the broker, the functions and the bench's own servers with the production build's
 * settings (tsconfig.build.json) into node_modules/.cache/lakebase-bench/dist, so that every
 * server is measured as `node dist/…/main.js` runs in production, without tsx's loader. A private
 * folder rather than dist/: the bench servers are not part of the build, and dist/ may be in use.
 * Type checking is left to `npm test` (`noCheck`), which keeps this to a few seconds.
 */
export async function buildEntries(root: string): Promise<BuiltEntries> {
  const cache = join(root, 'node_modules', '.cache', 'lakebase-bench')
  const outDir = join(cache, 'dist')
  await rm(outDir, { recursive: true, force: true })
  await mkdir(outDir, { recursive: true })
  const config = {
    extends: join(root, 'tsconfig.build.json'),
    compilerOptions: {
      outDir,
      rootDir: root,
      noCheck: true,
      declaration: false,
      sourceMap: false,
      noEmit: false,
    },
    include: ['broker', 'cli', 'functions', 'shared', 'bench/servers'].map((dir) =>
      join(root, dir),
    ),
    exclude: [],
  }
  const configPath = join(cache, 'tsconfig.json')
  await writeFile(configPath, JSON.stringify(config, null, 2))
  // TypeScript 7 exports no `bin/tsc` subpath: the command sits beside its package.json.
  const tsc = join(
    dirname(createRequire(import.meta.url).resolve('typescript/package.json')),
    'bin',
    'tsc',
  )
  try {
    await run(process.execPath, [tsc, '-p', configPath], { cwd: root })
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string }
    throw new Error(`compiling the servers failed:\n${stdout}${stderr}`)
  }
  // Under node_modules Node assumes CommonJS unless told otherwise; and the package's own name
  // must resolve to the compiled entries, as it does to dist/ in the repository (the functions
  // import lakebase-broker/*).
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    name: string
    exports: Record<string, string | Record<string, string>>
  }
  const exports = Object.fromEntries(
    Object.entries(manifest.exports).map(([entry, target]) => {
      const js = typeof target === 'string' ? target : (target.default ?? '')
      return [entry, js.replace(/^\.\/dist\//, './')]
    }),
  )
  await writeFile(
    join(outDir, 'package.json'),
    `${JSON.stringify({ name: manifest.name, type: 'module', exports })}\n`,
  )
  return {
    broker: join(outDir, 'broker', 'main.js'),
    functions: join(outDir, 'cli', 'commands', 'functions.js'),
    functionsStatic: join(outDir, 'bench', 'servers', 'functions-static.js'),
    bareHono: join(outDir, 'bench', 'servers', 'bare-hono.js'),
    bareNode: join(outDir, 'bench', 'servers', 'bare-node.js'),
    perConnection: join(outDir, 'bench', 'servers', 'per-connection.js'),
    lakebaseSdk: join(outDir, 'bench', 'servers', 'lakebase-sdk.js'),
    bareStack: join(outDir, 'bench', 'servers', 'bare-stack.js'),
    entryRoute: join(outDir, 'bench', 'servers', 'entry-route.js'),
    credentialClients: join(outDir, 'bench', 'servers', 'credential-clients.js'),
  }
}
