import { spawn } from 'node:child_process'
import { z } from 'zod'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import { type ProviderCredential, SSL_MODES } from '../../shared/client/credential.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { type Env, envValue } from '../../shared/process/env.js'
import { pgPortFrom, sslModeFrom } from '../../shared/process/pg-settings.js'
import { parseSettings } from '../../shared/process/settings.js'
import { ConfigError, providerSettings } from '../config.js'
import type { CredentialProvider } from './provider.js'

export { DEFAULT_COMMAND_TIMEOUT_MS } from '../config.js'
/** Without a stated expiry the credential is assumed to live as long as a Lakebase token. */
export const DEFAULT_COMMAND_LIFETIME_MS = 60 * 60 * 1000
/** A credential is a few hundred bytes; more output than this is a misbehaving command. */
const MAX_OUTPUT_BYTES = 64 * 1024

const outputSchema = z.object({
  user: z.string().min(1).optional(),
  password: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).optional(),
  ssl: z.enum(SSL_MODES).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  expiration_time: z.iso.datetime({ offset: true }).optional(),
})

/**
 * Runs `LAKEBASE_CREDENTIAL_COMMAND` (through `sh -c`) and reads a credential JSON from its
 * stdout: `{password, user?, host?, port?, database?, ssl?, expiresAt?}`; missing fields come
 * from the `PG*` variables. The output is never logged or echoed in errors.
 */
export class CommandProvider implements CredentialProvider {
  readonly source = 'command' as const
  private readonly command: string
  private readonly timeoutMs: number

  constructor(
    private readonly env: Env,
    private readonly clock: Clock = systemClock,
  ) {
    const command = envValue(env, 'LAKEBASE_CREDENTIAL_COMMAND')
    if (!command) {
      throw new ConfigError(
        'the command provider needs LAKEBASE_CREDENTIAL_COMMAND',
        'set it to a program that prints the credential JSON',
      )
    }
    this.command = command
    const { LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S: timeoutS } = parseSettings(
      {
        LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S:
          providerSettings.LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S,
      },
      env,
    )
    this.timeoutMs = timeoutS * 1000
  }

  async fetch(signal: AbortSignal): Promise<ProviderCredential> {
    const issuedAt = this.clock.now()
    const stdout = await this.run(signal)
    let raw: unknown
    try {
      raw = JSON.parse(stdout)
    } catch {
      throw new UpstreamError('malformed_response', 'the credential command did not print JSON')
    }
    const parsed = outputSchema.safeParse(raw)
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.')).join(', ')
      throw new UpstreamError(
        'malformed_response',
        `the credential command's JSON is invalid at: ${fields}`,
      )
    }
    const out = parsed.data
    const user = out.user ?? envValue(this.env, 'PGUSER')
    if (!user)
      throw new UpstreamError(
        'malformed_response',
        'the credential command gave no user and PGUSER is unset',
      )
    const expiry = out.expiresAt ?? out.expires_at ?? out.expiration_time
    return {
      user,
      password: out.password,
      host: out.host ?? envValue(this.env, 'PGHOST', 'LAKEBASE_HOST') ?? 'localhost',
      port: out.port ?? pgPortFrom(this.env),
      database:
        out.database ??
        envValue(this.env, 'PGDATABASE', 'LAKEBASE_DATABASE') ??
        'databricks_postgres',
      ssl: out.ssl ?? sslModeFrom(this.env),
      issuedAt: new Date(issuedAt),
      expiresAt: new Date(expiry ? Date.parse(expiry) : issuedAt + DEFAULT_COMMAND_LIFETIME_MS),
      source: 'command',
    }
  }

  describe() {
    // The command line may carry arguments the user considers private; name only the program.
    return { source: this.source, program: this.command.trim().split(/\s+/)[0] }
  }

  private run(signal: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      // Its own process group, so that a stuck command is stopped with everything it started
      // (`sh -c 'helper | jq'`), not just the shell; execFile cannot do this (it drops `detached`).
      const child = spawn('/bin/sh', ['-c', this.command], {
        env: { ...process.env, ...this.env },
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true,
      })
      let stdout = ''
      let failure: UpstreamError | undefined
      const stop = (error: UpstreamError) => {
        failure ??= error
        killGroup(child.pid)
      }
      const timer = setTimeout(
        () =>
          stop(
            new UpstreamError(
              'timeout',
              `the credential command did not finish within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      )
      const onAbort = () => stop(new UpstreamError('timeout', 'the credential command was stopped'))
      signal.addEventListener('abort', onAbort, { once: true })
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk
        if (stdout.length > MAX_OUTPUT_BYTES) {
          stop(new UpstreamError('malformed_response', 'the credential command printed too much'))
        }
      })
      const done = (error: UpstreamError | undefined) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        if (error) reject(error)
        else resolve(stdout)
      }
      child.on('error', () =>
        done(
          failure ?? new UpstreamError('command_failed', 'the credential command could not be run'),
        ),
      )
      // Once it exited and its output ended; a background child that keeps stdout open runs into
      // the timeout, which stops the whole group.
      child.on('close', (code) => {
        if (failure || code === 0) {
          done(failure)
          return
        }
        const how = code === null ? 'was killed' : `exited with status ${code}`
        done(new UpstreamError('command_failed', `the credential command ${how}`))
      })
    })
  }
}

/** SIGKILL to a process group that may already be gone. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Every process of the group has exited already.
  }
}
