import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { databricksCliTokenSource } from '../../../../shared/databricks/auth/databricks-cli.js'
import { UpstreamError } from '../../../../shared/databricks/upstream-error.js'
import { writeCliStub } from '../../../support/cli-stub.js'
import { errorText } from '../../../support/error-text.js'
import { rejectionOf } from '../../../support/rejection.js'

const HOST = 'https://dbc-a1b2.cloud.databricks.com'
const CLI_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZUBleGFtcGxlLmNvbSJ9.c2lnbmF0dXJl'
const signal = new AbortController().signal

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'databricks-cli-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('databricksCliTokenSource', () => {
  it('runs `auth token --host <host>` and reads access_token and expiry', async () => {
    const stub = await writeCliStub(dir, {
      stdout: JSON.stringify({
        access_token: CLI_TOKEN,
        token_type: 'Bearer',
        expiry: '2026-01-01T01:00:00.123456789+01:00',
      }),
    })
    const token = await databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal)
    expect(token).toEqual({
      accessToken: CLI_TOKEN,
      expiresAt: new Date('2026-01-01T00:00:00.123Z'),
    })
    expect(await stub.invocations()).toEqual([
      { args: ['auth', 'token', '--host', HOST], configFile: undefined },
    ])
  })

  it('passes --profile, and the config file it is in, when a profile is given', async () => {
    const stub = await writeCliStub(dir, {
      stdout: JSON.stringify({ access_token: CLI_TOKEN, expiry: '2026-01-01T01:00:00Z' }),
    })
    await databricksCliTokenSource({
      cliPath: stub.path,
      host: HOST,
      profile: 'dev',
      configFile: '/tmp/custom.cfg',
    })(signal)
    expect(await stub.invocations()).toEqual([
      { args: ['auth', 'token', '--profile', 'dev'], configFile: '/tmp/custom.cfg' },
    ])
  })

  it('reports a login that must be renewed as permanent unauthorized, without echoing stdout', async () => {
    const stub = await writeCliStub(dir, {
      stdout: JSON.stringify({ access_token: CLI_TOKEN, expiry: 'whenever' }),
      stderr: `Error: A new access token could not be retrieved because the refresh token is invalid. To reauthenticate, run \`databricks auth login --host ${HOST}\`\n`,
      exitCode: 1,
    })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('unauthorized')
    expect(err.kind).toBe('permanent')
    expect(err.message).toMatch(
      /^the Databricks CLI exited with code 1; run `databricks auth login` again: Error: A new access token/,
    )
    expect(errorText(err)).not.toContain(CLI_TOKEN)
  })

  it('reports another non-zero exit as transient command_failed, without echoing stdout', async () => {
    const stub = await writeCliStub(dir, {
      stdout: `partial output ${CLI_TOKEN}`,
      stderr: 'Error: Get "https://dbc-a1b2.cloud.databricks.com/oidc": dial tcp: i/o timeout\n',
      exitCode: 2,
    })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('command_failed')
    expect(err.kind).toBe('transient')
    expect(err.message).toMatch(/^the Databricks CLI exited with code 2: Error: Get/)
    expect(errorText(err)).not.toContain(CLI_TOKEN)
  })

  it('redacts anything token-shaped that the CLI writes to stderr', async () => {
    const stub = await writeCliStub(dir, { stderr: `Error: bad token ${CLI_TOKEN}\n`, exitCode: 1 })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal),
      UpstreamError,
    )
    expect(err.message).toBe('the Databricks CLI exited with code 1: Error: bad token [REDACTED]')
  })

  it('reports a missing CLI as a permanent config error that says what to do', async () => {
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: join(dir, 'no-such-cli'), host: HOST })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('config')
    expect(err.kind).toBe('permanent')
    expect(err.message).toMatch(/install it, or set DATABRICKS_CLI_PATH/)
  })

  it('reports output that is not the token JSON as malformed, without echoing it', async () => {
    const stub = await writeCliStub(dir, { stdout: `Bearer ${CLI_TOKEN}\n` })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('malformed_response')
    expect(errorText(err)).not.toContain(CLI_TOKEN)
  })

  it('reports JSON without a readable expiry as malformed', async () => {
    const stub = await writeCliStub(dir, {
      stdout: JSON.stringify({ access_token: CLI_TOKEN, expiry: 'tomorrow-ish' }),
    })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('malformed_response')
    expect(err.message).toBe(
      'the Databricks CLI printed JSON without access_token and a readable expiry',
    )
  })

  // The CLI is a real process, so its timeout runs on real time; 200 ms keeps the test quick.
  it('stops a CLI that does not answer within the timeout', async () => {
    const stub = await writeCliStub(dir, { hang: true })
    const err = await rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST, timeoutMs: 200 })(signal),
      UpstreamError,
    )
    expect(err.errorClass).toBe('timeout')
  })

  it('stops the CLI when the caller gives up', async () => {
    const stub = await writeCliStub(dir, { hang: true })
    const caller = new AbortController()
    const pending = rejectionOf(
      databricksCliTokenSource({ cliPath: stub.path, host: HOST })(caller.signal),
      UpstreamError,
    )
    caller.abort()
    expect((await pending).errorClass).toBe('timeout')
  })
})
