import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { ConfigError } from '../../shared/process/config-error.js'

const run = promisify(execFile)

/** The package that installs PgBouncer, by that name, in Debian, Ubuntu, Fedora and Homebrew. */
export const PGBOUNCER_PACKAGE = 'pgbouncer'
/** Where packages install it: Debian's `/usr/sbin` is not on a non-root user's `PATH`. */
export const SYSTEM_DIRS = ['/usr/sbin', '/usr/local/sbin'] as const
/** `pgbouncer --version` prints and exits at once; a binary that hangs is not PgBouncer. */
const VERSION_TIMEOUT_MS = 5_000

/** A PgBouncer release, and what the broker does differently by it. */
export interface PgbouncerVersion {
  major: number
  minor: number
  patch: number
  /** `1.18.0`. */
  text: string
  /** Protocol-level named prepared statements in transaction mode (`max_prepared_statements`): 1.21+. */
  preparedStatements: boolean
  /**
   * The signal for an immediate shutdown: SIGTERM up to 1.22; from 1.23 SIGTERM waits for every
   * client to leave, and SIGQUIT is the immediate one.
   */
  stopSignal: NodeJS.Signals
}

export interface PgbouncerBinary {
  path: string
  version: PgbouncerVersion
}

/** The version `pgbouncer --version` printed (`PgBouncer 1.18.0`), or undefined. */
export function parseVersion(output: string): PgbouncerVersion | undefined {
  const match = /PgBouncer (\d+)\.(\d+)(?:\.(\d+))?/.exec(output)
  if (!match) return undefined
  const [major, minor, patch] = [match[1], match[2], match[3] ?? '0'].map(Number) as [
    number,
    number,
    number,
  ]
  const atLeast = (m: number, n: number) => major > m || (major === m && minor >= n)
  return {
    major,
    minor,
    patch,
    text: `${major}.${minor}.${patch}`,
    preparedStatements: atLeast(1, 21),
    stopSignal: atLeast(1, 23) ? 'SIGQUIT' : 'SIGTERM',
  }
}

const installFix = `install the package ${PGBOUNCER_PACKAGE} (\`apt-get install ${PGBOUNCER_PACKAGE}\`, \`brew install ${PGBOUNCER_PACKAGE}\`), or set BROKER_PGBOUNCER_PATH to the program`

/**
 * The PgBouncer to run: `explicit` (`BROKER_PGBOUNCER_PATH`, a path or a name looked up on
 * `PATH`), else `pgbouncer` on `PATH`, else in {@link SYSTEM_DIRS}; and its version, asked of it.
 *
 * @throws ConfigError naming the package to install when there is none, or it does not run.
 */
export async function findPgbouncer(
  explicit: string | undefined,
  path: string | undefined,
): Promise<PgbouncerBinary> {
  const name = explicit ?? PGBOUNCER_PACKAGE
  const dirs = (path ?? '').split(delimiter).filter(Boolean)
  const candidates = name.includes('/')
    ? [name]
    : [...dirs, ...(explicit === undefined ? SYSTEM_DIRS : [])].map((dir) => join(dir, name))
  let found: string | undefined
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) {
      found = candidate
      break
    }
  }
  if (found === undefined) {
    const where = name.includes('/')
      ? `${name} is not an executable file`
      : `no ${name} on PATH${explicit === undefined ? ` nor in ${SYSTEM_DIRS.join(', ')}` : ''}`
    throw new ConfigError(`BROKER_PGBOUNCER=true needs PgBouncer: ${where}`, installFix)
  }
  let output: string
  try {
    output = (await run(found, ['--version'], { timeout: VERSION_TIMEOUT_MS })).stdout
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'it failed'
    throw new ConfigError(`${found} --version did not run (${code})`, installFix)
  }
  const version = parseVersion(output)
  if (version === undefined) {
    throw new ConfigError(`${found} --version did not name a PgBouncer version`, installFix)
  }
  return { path: found, version }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
