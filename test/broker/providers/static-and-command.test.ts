import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../broker/config.js'
import { CommandProvider } from '../../../broker/providers/command.js'
import { STATIC_CREDENTIAL_LIFETIME_MS, StaticProvider } from '../../../broker/providers/static.js'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import { ManualClock } from '../../../testing/manual-clock.js'
import { tempDir } from '../../support/broker.js'
import { rejectionOf } from '../../support/rejection.js'

const signal = () => new AbortController().signal

describe('StaticProvider', () => {
  it('hands out the PG* variables as given, with a nominal one-hour lifetime', async () => {
    const clock = new ManualClock()
    const provider = new StaticProvider(
      {
        PGUSER: 'u',
        PGPASSWORD: 'p',
        PGHOST: 'db.local',
        PGPORT: '6543',
        PGDATABASE: 'app',
        PGSSLMODE: 'disable',
      },
      clock,
    )
    const credential = await provider.fetch()
    expect(credential).toMatchObject({
      user: 'u',
      password: 'p',
      host: 'db.local',
      port: 6543,
      database: 'app',
      ssl: 'disable',
      source: 'static',
    })
    expect(credential.expiresAt.getTime() - clock.now()).toBe(STATIC_CREDENTIAL_LIFETIME_MS)
    expect(JSON.stringify(provider.describe())).not.toContain('"p"')
  })

  it('refuses to start without PGUSER and PGPASSWORD', () => {
    expect(() => new StaticProvider({ PGUSER: 'u' })).toThrow(ConfigError)
  })
})

describe('CommandProvider', () => {
  async function script(body: string): Promise<string> {
    const dir = await tempDir('lakebase-cmd-')
    const path = join(dir, 'credential.sh')
    await writeFile(path, `#!/bin/sh\n${body}\n`)
    await chmod(path, 0o755)
    return path
  }

  it('reads the credential JSON the command prints, filling the rest from PG*', async () => {
    const path = await script(
      `echo '{"user":"svc","password":"cmd-secret-1","expiresAt":"2026-11-26T20:00:00.000Z"}'`,
    )
    const provider = new CommandProvider(
      { LAKEBASE_CREDENTIAL_COMMAND: path, PGHOST: 'h', PGSSLMODE: 'verify-full' },
      new ManualClock(),
    )
    expect(await provider.fetch(signal())).toMatchObject({
      user: 'svc',
      password: 'cmd-secret-1',
      host: 'h',
      port: 5432,
      ssl: 'verify-full',
      expiresAt: new Date('2026-11-26T20:00:00.000Z'),
      source: 'command',
    })
  })

  it('reports a failing command by its exit status, without its output', async () => {
    const path = await script(`echo '{"password":"leaked-secret"}'; echo oops-secret >&2; exit 7`)
    const err = await rejectionOf(
      new CommandProvider({ LAKEBASE_CREDENTIAL_COMMAND: path, PGUSER: 'u' }).fetch(signal()),
      UpstreamError,
    )
    expect(err.errorClass).toBe('command_failed')
    expect(err.message).toContain('status 7')
    expect(err.message).not.toContain('secret')
  })

  it('reports output that is not JSON, or JSON without a password, as malformed', async () => {
    const notJson = await script(`echo 'password=hunter2'`)
    const noPassword = await script(`echo '{"user":"u"}'`)
    const a = await rejectionOf(
      new CommandProvider({ LAKEBASE_CREDENTIAL_COMMAND: notJson, PGUSER: 'u' }).fetch(signal()),
      UpstreamError,
    )
    const b = await rejectionOf(
      new CommandProvider({ LAKEBASE_CREDENTIAL_COMMAND: noPassword }).fetch(signal()),
      UpstreamError,
    )
    expect([a.errorClass, b.errorClass]).toEqual(['malformed_response', 'malformed_response'])
    expect(a.message).not.toContain('hunter2')
    expect(b.message).toContain('password')
  })

  it('gives up on a command that hangs, after its timeout', async () => {
    const path = await script('sleep 30')
    const provider = new CommandProvider({
      LAKEBASE_CREDENTIAL_COMMAND: path,
      LAKEBASE_CREDENTIAL_COMMAND_TIMEOUT_S: '0.2',
      PGUSER: 'u',
    })
    expect((await rejectionOf(provider.fetch(signal()), UpstreamError)).errorClass).toBe('timeout')
  })
})
