import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './process.js'

const run = promisify(execFile)

/** The fields of a lockfile entry that npm resolves with; the rest comes from the tarball. */
const MANIFEST_FIELDS = [
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bin',
  'engines',
  'os',
  'cpu',
  'libc',
  'license',
  'deprecated',
] as const

interface LockEntry {
  name?: string
  version?: string
  integrity?: string
  link?: boolean
  [key: string]: unknown
}

interface Version {
  integrity: string
  manifest: Record<string, unknown>
}

export interface LocalRegistry {
  /** `http://127.0.0.1:PORT/`: give it to npm as `npm_config_registry`. */
  url: string
  /** The versions it serves of `name`, oldest first. */
  versions(name: string): string[]
  /** Requests for tarballs it had no copy of (a package npm wanted that this lockfile lacks). */
  misses: string[]
  close(): Promise<void>
}

/**
 * An npm registry on loopback that serves every package of this repository's lockfile (aliases
 * under their real names, so `postgres-3` is `postgres@3.4.9` here), its tarballs read from the
 * npm cache that this repository's `npm ci` filled. A project pointed at it resolves with npm's
 * own rules, peers and engines included, from exactly the versions this repository tested, and
 * needs no network: the consumer tests run `npm install` as a user would, with no flags.
 */
export async function startLocalRegistry(): Promise<LocalRegistry> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  const cache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim()
  const packages = new Map<string, Map<string, Version>>()
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.link || !entry.version || !entry.integrity) continue
    if (!path.includes('node_modules/')) continue
    const name =
      entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
    const manifest: Record<string, unknown> = { name, version: entry.version }
    for (const field of MANIFEST_FIELDS)
      if (entry[field] !== undefined) manifest[field] = entry[field]
    const versions = packages.get(name) ?? new Map<string, Version>()
    versions.set(entry.version, { integrity: entry.integrity, manifest })
    packages.set(name, versions)
  }
  const misses: string[] = []
  let base = ''

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1)
    // npm audit posts here on install: nothing to report, no network to ask.
    if (path.startsWith('-/')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      return
    }
    const tarball = /^(.+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(path)
    if (tarball) {
      const [, name, version] = tarball as unknown as [string, string, string]
      const found = packages.get(name)?.get(version)
      if (!found) {
        misses.push(`${name}@${version}`)
        res.writeHead(404).end()
        return
      }
      readFile(contentPath(cache, found.integrity)).then(
        (bytes) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes),
        () => {
          misses.push(`${name}@${version} (not in the npm cache)`)
          res.writeHead(404).end()
        },
      )
      return
    }
    const versions = packages.get(path)
    if (!versions) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}')
      return
    }
    const sorted = sortVersions([...versions.keys()])
    const body = {
      name: path,
      'dist-tags': { latest: sorted.at(-1) },
      versions: Object.fromEntries(
        sorted.map((v) => {
          const { integrity, manifest } = versions.get(v) as Version
          const bare = path.slice(path.lastIndexOf('/') + 1)
          return [
            v,
            { ...manifest, dist: { integrity, tarball: `${base}${path}/-/${bare}-${v}.tgz` } },
          ]
        }),
      ),
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return {
    url: base,
    versions: (name) => sortVersions([...(packages.get(name)?.keys() ?? [])]),
    misses,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Where cacache keeps the content with this integrity (`sha512-…`). */
function contentPath(cache: string, integrity: string): string {
  const [algorithm, digest] = (integrity.split(' ')[0] ?? '').split('-') as [string, string]
  const hex = Buffer.from(digest, 'base64').toString('hex')
  return join(
    cache,
    '_cacache',
    'content-v2',
    algorithm,
    hex.slice(0, 2),
    hex.slice(2, 4),
    hex.slice(4),
  )
}

/** Semver order for the plain versions a lockfile holds (a prerelease before its release). */
function sortVersions(versions: string[]): string[] {
  const key = (v: string) => {
    const [core = '', pre] = v.split('-', 2)
    return { parts: core.split('.').map(Number), pre }
  }
  return versions.sort((a, b) => {
    const x = key(a)
    const y = key(b)
    for (let i = 0; i < 3; i++) {
      const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0)
      if (d !== 0) return d
    }
    if (x.pre === y.pre) return 0
    if (x.pre === undefined) return 1
    if (y.pre === undefined) return -1
    return x.pre < y.pre ? -1 : 1
  })
}
