import { z } from 'zod'
import { UpstreamError } from '../upstream-error.js'
import type { TokenSource } from './cached-token.js'
import { type CliDescription, parseCliJson, runCli } from './cli-process.js'

/**
 * How long `databricks auth token` may run. It answers from its token cache in milliseconds, but
 * may first refresh the token over the network; thirty seconds covers a slow refresh and still
 * stops a hung CLI from holding the broker's only in-flight fetch.
 */
export const CLI_TIMEOUT_MS = 30_000

/** How the Databricks CLI is named in messages, and how it asks for a new login. */
const DATABRICKS_CLI: CliDescription = {
  label: 'the Databricks CLI',
  pathVariable: 'DATABRICKS_CLI_PATH',
  loginNeeded: /auth login|refresh token|invalid_grant|not logged in|login again/i,
  loginAdvice: 'run `databricks auth login` again',
}

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
    const stdout = await runCli(
      options.cliPath,
      args,
      { timeout: options.timeoutMs ?? CLI_TIMEOUT_MS, signal, env },
      DATABRICKS_CLI,
    )
    const parsed = parseCliJson(stdout, outputSchema, DATABRICKS_CLI)
    const expiresAt = new Date(parsed.expiry)
    if (Number.isNaN(expiresAt.getTime())) {
      throw new UpstreamError(
        'malformed_response',
        'the Databricks CLI printed JSON without access_token and a readable expiry',
      )
    }
    return { accessToken: parsed.access_token, expiresAt }
  }
}
