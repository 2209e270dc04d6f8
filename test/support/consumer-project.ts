import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
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

interface LockEntry {
  version: string
  integrity?: string
  resolved?: string
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  optionalDependencies?: Record<string, string>
  [key: string]: unknown
}

export interface ConsumerProject {
  dir: string
  /** Runs a command in the project (its `node_modules/.bin` first on PATH). */
  exec(command: string, args: string[], env?: Record<string, string>): Promise<string>
  remove(): Promise<void>
}

/**
 * A new project outside this repository with the packed tarball and the given registry packages
 * installed by `npm ci --offline`. Its lockfile is the subset of this repository's lockfile that
 * those packages need (same versions, same integrity hashes), so every package comes from the
 * npm cache that this repository's own `npm ci` filled: registry packages only, no network, and
 * nothing linked back to the repository.
 */
export async function consumerProject(
  tarball: string,
  packages: readonly string[],
): Promise<ConsumerProject> {
  const dir = await mkdtemp(join(tmpdir(), 'lakebase-consumer-'))
  try {
    const local = basename(tarball)
    await copyFile(tarball, join(dir, local))
    const ours = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>
    }
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      name: string
      version: string
      dependencies: Record<string, string>
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
      bin?: Record<string, string>
      engines?: Record<string, string>
      license?: string
    }
    const dependencies: Record<string, string> = { [manifest.name]: `file:${local}` }
    for (const name of packages) {
      const entry = ours.packages[`node_modules/${name}`]
      if (!entry) throw new Error(`${name} is not in this repository's lockfile`)
      dependencies[name] = entry.version
    }
    const integrity = `sha512-${createHash('sha512')
      .update(await readFile(join(dir, local)))
      .digest('base64')}`
    const lockPackages: Record<string, LockEntry> = {
      '': { name: 'consumer', version: '1.0.0', dependencies } as unknown as LockEntry,
      [`node_modules/${manifest.name}`]: {
        version: manifest.version,
        resolved: `file:${local}`,
        integrity,
        license: manifest.license,
        dependencies: manifest.dependencies,
        peerDependencies: manifest.peerDependencies,
        peerDependenciesMeta: manifest.peerDependenciesMeta,
        ...(manifest.bin ? { bin: manifest.bin } : {}),
        ...(manifest.engines ? { engines: manifest.engines } : {}),
      },
    }
    // Every package the tarball's dependencies, its required peers and the named packages need,
    // walked through this repository's lockfile the way Node resolves: nested first, then up.
    const registry = (await run('npm', ['config', 'get', 'registry'])).stdout
      .trim()
      .replace(/\/?$/, '/')
    const queue: [string, string][] = [
      ...Object.keys(manifest.dependencies).map((n): [string, string] => ['', n]),
      ...Object.keys(manifest.peerDependencies)
        .filter((n) => !manifest.peerDependenciesMeta[n]?.optional)
        .map((n): [string, string] => ['', n]),
      ...packages.map((n): [string, string] => ['', n]),
    ]
    while (queue.length > 0) {
      const [from, name] = queue.shift() as [string, string]
      const path = locate(ours.packages, from, name)
      if (path === undefined || lockPackages[path]) continue
      const entry = ours.packages[path] as LockEntry
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...clean } = entry
      // This repository's lockfile records no download addresses; without one, npm asks the
      // registry for a scoped package's metadata even when its tarball is in the cache.
      const bare = name.slice(name.lastIndexOf('/') + 1)
      clean.resolved ??= `${registry}${name}/-/${bare}-${entry.version}.tgz`
      lockPackages[path] = clean as LockEntry
      for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([path, dep])
      for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push([path, dep])
      for (const dep of Object.keys(entry.peerDependencies ?? {})) {
        if (!entry.peerDependenciesMeta?.[dep]?.optional) queue.push([path, dep])
      }
    }
    await writeFile(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2)}\n`,
    )
    await writeFile(
      join(dir, 'package-lock.json'),
      `${JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages: lockPackages }, null, 2)}\n`,
    )
    const exec = async (command: string, args: string[], env: Record<string, string> = {}) => {
      const { stdout, stderr } = await run(command, args, {
        cwd: dir,
        timeout: INSTALL_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
        env: {
          PATH: `${join(dir, 'node_modules', '.bin')}:${process.env.PATH}`,
          HOME: process.env.HOME ?? dir,
          ...env,
        },
      })
      return stdout + stderr
    }
    await exec('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'])
    return { dir, exec, remove: () => rm(dir, { recursive: true, force: true }) }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** Where `name` resolves from the package at lockfile path `from`, as Node looks it up. */
function locate(
  packages: Record<string, LockEntry>,
  from: string,
  name: string,
): string | undefined {
  for (let base = from; ; ) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`
    if (packages[candidate]) return candidate
    if (base === '') return undefined
    const cut = base.lastIndexOf('/node_modules/')
    base = cut === -1 ? '' : base.slice(0, cut)
  }
}
