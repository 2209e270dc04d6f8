import { type ExecFileException, type ExecFileOptions, execFile } from 'node:child_process'
import type { z } from 'zod'
import { redactSecrets } from '../redact.js'
import { UpstreamError } from '../upstream-error.js'

/** A token JSON is a few hundred bytes; anything much larger is not it. */
const MAX_CLI_OUTPUT_BYTES = 1024 * 1024

/** Only this much of a CLI's stderr goes into an error message. */
const MAX_STDERR_CHARS = 300

/** A command-line tool that prints a token (the Databricks CLI, the Azure CLI), for messages. */
export interface CliDescription {
  /** e.g. `the Databricks CLI` */
  label: string
  /** The variable that names its binary, e.g. `DATABRICKS_CLI_PATH`. */
  pathVariable: string
  /** stderr phrases by which it says the developer has to log in again. */
  loginNeeded: RegExp
  /** What to run then, e.g. `` run `databricks auth login` again ``. */
  loginAdvice: string
}

/**
 * Runs a token-printing CLI and returns its stdout, failing with an UpstreamError: a missing
 * binary is a permanent `config` error; an exit asking for a new login is a permanent
 * `unauthorized` one; a timeout or abort is `timeout`; other non-zero exits are transient
 * `command_failed`. stdout (it may hold a token) is never repeated in a message, and stderr only
 * redacted and cut short.
 */
export function runCli(
  file: string,
  args: readonly string[],
  options: Omit<ExecFileOptions, 'maxBuffer' | 'windowsHide'>,
  cli: CliDescription,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { ...options, maxBuffer: MAX_CLI_OUTPUT_BYTES, windowsHide: true, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve(stdout)
          return
        }
        // The error object is not kept as the cause: Node puts stdout and stderr on it.
        reject(cliFailure(file, err, stderr, cli))
      },
    )
  })
}

/**
 * Reads a CLI's stdout as JSON of `schema`; a `malformed_response` UpstreamError otherwise,
 * which names what was expected and never repeats the output.
 */
export function parseCliJson<T>(stdout: string, schema: z.ZodType<T>, cli: CliDescription): T {
  let json: unknown
  try {
    json = JSON.parse(stdout)
  } catch {
    throw new UpstreamError(
      'malformed_response',
      `${cli.label} printed something other than the token JSON`,
    )
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(body)'))]
    throw new UpstreamError(
      'malformed_response',
      `${cli.label} printed JSON without the expected fields: ${fields.join(', ')}`,
    )
  }
  return parsed.data
}

function cliFailure(
  file: string,
  err: ExecFileException,
  stderr: string,
  cli: CliDescription,
): UpstreamError {
  if (err.code === 'ENOENT' || err.code === 'EACCES') {
    return new UpstreamError(
      'config',
      `${cli.label} (${file}) cannot be run (${err.code}); install it, or set ${cli.pathVariable}, or configure another auth method`,
    )
  }
  if (err.name === 'AbortError') {
    return new UpstreamError('timeout', `${cli.label} was stopped: the caller gave up`)
  }
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
    return new UpstreamError('malformed_response', `${cli.label} printed far more than a token`)
  }
  if (err.killed === true) {
    return new UpstreamError('timeout', `${cli.label} did not answer in time and was stopped`)
  }
  const firstLine = redactSecrets(stderr.trim().split('\n')[0] ?? '').slice(0, MAX_STDERR_CHARS)
  const detail = firstLine === '' ? '' : `: ${firstLine}`
  const exit = typeof err.code === 'number' ? `exited with code ${err.code}` : 'failed'
  if (cli.loginNeeded.test(stderr)) {
    return new UpstreamError('unauthorized', `${cli.label} ${exit}; ${cli.loginAdvice}${detail}`)
  }
  return new UpstreamError('command_failed', `${cli.label} ${exit}${detail}`)
}
