import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** libpq's connection settings for a tool, as `PG*` variables. */
export interface LibpqTarget {
  /** A socket folder, or a host. */
  host: string
  port: number
  database: string
  user: string
  password?: string
}

/** The environment a libpq tool runs with: only these settings, no `.pgpass`, no service file. */
function libpqEnv(target: LibpqTarget): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: '/nonexistent',
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGDATABASE: target.database,
    PGUSER: target.user,
    PGSSLMODE: 'disable',
    PGCONNECT_TIMEOUT: '10',
    ...(target.password === undefined ? {} : { PGPASSWORD: target.password }),
  }
}

/** Runs one statement with `psql` (a real libpq client) and resolves with its unaligned rows. */
export async function psql(target: LibpqTarget, sql: string): Promise<string[]> {
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    env: libpqEnv(target),
    timeout: 60_000,
  })
  return stdout.split('\n').filter((line) => line !== '')
}

/** `pgbench`'s summary, as it prints it. */
export interface PgbenchResult {
  processed: number
  failed: number
  /** Average latency per transaction, in ms. */
  latencyMs: number
  tps: number
  /** Clients that gave up (a connection refused, a query failed). */
  aborted: number
  output: string
}

/** Runs `pgbench` with `args` and reads its summary; a non-zero exit is answered, not thrown. */
export async function pgbench(
  target: LibpqTarget,
  args: readonly string[],
): Promise<PgbenchResult> {
  let output: string
  try {
    const { stdout, stderr } = await run('pgbench', [...args], {
      env: libpqEnv(target),
      timeout: 300_000,
    })
    output = `${stdout}${stderr}`
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`
  }
  const figure = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? Number.NaN)
  return {
    processed: figure(/number of transactions actually processed: (\d+)/),
    failed: figure(/number of failed transactions: (\d+)/),
    latencyMs: figure(/latency average = ([\d.]+) ms/),
    tps: figure(/tps = ([\d.]+)/),
    aborted: (output.match(/client \d+ aborted/g) ?? []).length,
    output,
  }
}
