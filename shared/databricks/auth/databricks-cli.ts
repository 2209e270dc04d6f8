import { type ExecFileException, type ExecFileOptions, execFile } from 'node:child_process'
import { z } from 'zod'
import { UpstreamError } from '../../upstream-error.js'
import { redactSecrets } from '../redact.js'
import type { TokenSource } from './cached-token.js'

/**
 * How long `databricks auth token` may run. It answers from its token cache in milliseconds, but
 * may first refresh the token over the network; thirty seconds covers a slow refresh and still
 * stops a hung CLI from holding the broker's only in-flight fetch.
 */
export const CLI_TIMEOUT_MS = 30_000

/** The token JSON is a few hundred bytes; anything much larger is not it. */
const MAX_CLI_OUTPUT_BYTES = 1024 * 1024

/** Only this much of the CLI's stderr goes into an error message. */
const MAX_STDERR_CHARS = 300

/** stderr phrases by which the CLI says the developer has to log in again. */
const LOGIN_NEEDED = /auth login|refresh token|invalid_grant|not logged in|login again/i

/** Which CLI to run, for which workspace or profile. */
export interface DatabricksCliOptions {
  /** The binary: `DATABRICKS_CLI_PATH`, else `databricks`. */
  cliPath: string
  host: string
  /** When set, `--profile <profile>` is passed instead of `--host`. */
  profile?: string
  /** The config file the profile is in, passed on as `DATABRICKS_CONFIG_FILE`. */
  configFile?: string
  timeoutMs?: number
}

const outputSchema = z.object({
  access_token: z.string().min(1),
  expiry: z.string().min(1),
})

/**
 * The developer's own login through the Databricks CLI: runs
 * `<cliPath> auth token --host <host>` (or `--profile <p>`) and reads
 * `{"access_token", "expiry"}` from its stdout.
 *
 * A missing binary is a permanent `config` error; an exit that asks for `databricks auth login`
 * is a permanent `unauthorized` error; other non-zero exits are transient `command_failed`.
 * The CLI's stdout (it may hold a token) is never repeated in a message.
 */
export function databricksCliTokenSource(options: DatabricksCliOptions): TokenSource {
  const args =
    options.profile === undefined
      ? ['auth', 'token', '--host', options.host]
      : ['auth', 'token', '--profile', options.profile]
  // The CLI must read the same config file as we did, wherever our settings came from.
  const env =
    options.configFile === undefined
      ? process.env
      : { ...process.env, DATABRICKS_CONFIG_FILE: options.configFile }
  return async (signal) => {
    const stdout = await run(options.cliPath, args, {
      timeout: options.timeoutMs ?? CLI_TIMEOUT_MS,
      signal,
      env,
      maxBuffer: MAX_CLI_OUTPUT_BYTES,
      windowsHide: true,
    })
    let json: unknown
    try {
      json = JSON.parse(stdout)
    } catch {
      throw new UpstreamError(
        'malformed_response',
        'the Databricks CLI printed something other than the token JSON',
      )
    }
    const parsed = outputSchema.safeParse(json)
    const expiresAt = parsed.success ? new Date(parsed.data.expiry) : undefined
    if (!parsed.success || expiresAt === undefined || Number.isNaN(expiresAt.getTime())) {
      throw new UpstreamError(
        'malformed_response',
        'the Databricks CLI printed JSON without access_token and a readable expiry',
      )
    }
    return { accessToken: parsed.data.access_token, expiresAt }
  }
}

function run(file: string, args: string[], options: ExecFileOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout)
        return
      }
      // The error object is not kept as the cause: Node puts stdout and stderr on it.
      reject(cliFailure(file, err, stderr))
    })
  })
}

function cliFailure(file: string, err: ExecFileException, stderr: string): UpstreamError {
  if (err.code === 'ENOENT' || err.code === 'EACCES') {
    return new UpstreamError(
      'config',
      `the Databricks CLI (${file}) cannot be run (${err.code}); install it, or set DATABRICKS_CLI_PATH, or configure another auth method`,
    )
  }
  if (err.name === 'AbortError') {
    return new UpstreamError('timeout', 'the Databricks CLI was stopped: the caller gave up')
  }
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
    return new UpstreamError(
      'malformed_response',
      'the Databricks CLI printed far more than a token',
    )
  }
  if (err.killed === true) {
    return new UpstreamError('timeout', 'the Databricks CLI did not answer in time and was stopped')
  }
  const firstLine = redactSecrets(stderr.trim().split('\n')[0] ?? '').slice(0, MAX_STDERR_CHARS)
  const detail = firstLine === '' ? '' : `: ${firstLine}`
  const exit = typeof err.code === 'number' ? `exited with code ${err.code}` : 'failed'
  if (LOGIN_NEEDED.test(stderr)) {
    return new UpstreamError(
      'unauthorized',
      `the Databricks CLI ${exit}; run \`databricks auth login\` again${detail}`,
    )
  }
  return new UpstreamError('command_failed', `the Databricks CLI ${exit}${detail}`)
}
