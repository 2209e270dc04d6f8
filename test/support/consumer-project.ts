import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import type { LocalRegistry } from './local-registry.js'
import { ROOT } from './process.js'

const run = promisify(execFile)
/** `npm pack` builds the package first (its `prepare` script: a full tsc build). */
const PACK_TIMEOUT_MS = 240_000
const INSTALL_TIMEOUT_MS = 180_000

export interface PackedPackage {
  tarball: string
  /** Paths inside the tarball, without the leading `package/`. */
  files: string[]
  /** Bytes of the .tgz. */
  size: number
  unpackedSize: number
}

/** `npm pack` of this repository into `dir`, as `npm publish` would make it. */
export async function packPackage(dir: string): Promise<PackedPackage> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    timeout: PACK_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  })
  // npm prints the prepare script's output before the JSON.
  const json = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as {
    filename: string
    size: number
    unpackedSize: number
    files: { path: string }[]
  }[]
  const packed = json[0]
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`)
  return {
    tarball: join(dir, packed.filename),
    files: packed.files.map((f) => f.path),
    size: packed.size,
    unpackedSize: packed.unpackedSize,
  }
}

export interface ConsumerProject {
  dir: string
  /** The Node this project runs on (its folder is first on PATH, so npm and tsc use it too). */
  node: string
  /**
   * Runs a command in the project: its `node_modules/.bin`, then its Node, first on PATH, npm
   * pointed at the local registry. Resolves with stdout and stderr together.
   */
  exec(command: string, args: string[], env?: Record<string, string>): Promise<string>
  /** `npm install SPECS…` exactly as a user types it (no flags), with its output. */
  install(specs: readonly string[]): Promise<string>
  remove(): Promise<void>
}

/**
 * A new, empty project outside this repository (`package.json` only), whose npm installs from
 * `registry` (the local one that serves this lockfile's packages: no network) with a cache of its
 * own, on the Node binary `node`.
 */
export async function consumerProject(options: {
  registry: LocalRegistry
  node: string
  cache: string
}): Promise<ConsumerProject> {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-consumer-'))
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
  )
  const exec = async (command: string, args: string[], env: Record<string, string> = {}) => {
    const { stdout, stderr } = await run(command, args, {
      cwd: dir,
      timeout: INSTALL_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: `${join(dir, 'node_modules', '.bin')}:${dirname(options.node)}:${process.env.PATH}`,
        HOME: process.env.HOME ?? dir,
        npm_config_registry: options.registry.url,
        npm_config_cache: options.cache,
        ...env,
      },
    })
    return stdout + stderr
  }
  return {
    dir,
    node: options.node,
    exec,
    install: (specs) => exec('npm', ['install', ...specs]),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
