import { execFile } from 'node:child_process'
import { watch } from 'node:fs'
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { PgpassFile, pgpassLine } from '../../broker/pgpass-file.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { startTestBroker, tempDir } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { type LakebaseLike, lakebaseLike } from '../support/lakebase-like.js'

const run = promisify(execFile)

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function dir(): Promise<string> {
  const path = await tempDir('pgpass-')
  cleanups.push(() => rm(path, { recursive: true, force: true }))
  return path
}

function credential(overrides: Partial<ProviderCredential> = {}): ProviderCredential {
  return {
    user: 'alice@example.com',
    password: 'pw-1',
    host: 'db.example',
    port: 5432,
    database: 'databricks_postgres',
    ssl: 'require',
    expiresAt: new Date('2026-12-01T12:00:00Z'),
    issuedAt: new Date('2026-12-01T11:00:00Z'),
    source: 'databricks',
    ...overrides,
  }
}

/** Resolves once `path` holds text that passes `accept`, woken by the folder's change events. */
function untilFileHolds(path: string, accept: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const folder = watch(join(path, '..'))
    const timeout = setTimeout(() => {
      folder.close()
      reject(new Error(`${path} never held the expected text`))
    }, 10_000)
    const check = async () => {
      const text = await readFile(path, 'utf8').catch(() => '')
      if (!accept(text)) return
      clearTimeout(timeout)
      folder.close()
      resolve(text)
    }
    folder.on('change', () => void check())
    void check()
  })
}

describe('pgpassLine', () => {
  it('writes host:port:database:user:password', () => {
    expect(pgpassLine(credential())).toBe(
      'db.example:5432:databricks_postgres:alice@example.com:pw-1',
    )
  })

  it('escapes backslash and colon in every field, as libpq reads them', () => {
    expect(
      pgpassLine(credential({ host: 'h:1', database: 'd\\b', user: 'u:\\', password: 'a:b\\c:' })),
    ).toBe('h\\:1:5432:d\\\\b:u\\:\\\\:a\\:b\\\\c\\:')
  })

  it('refuses a line break, naming the field and not its value', () => {
    expect(() => pgpassLine(credential({ password: 'secret\nline' }))).toThrow(
      /^the credential's password holds a line break$/,
    )
  })
})

describe('PgpassFile', () => {
  it('writes one line per target, default first, mode 0600, through a rename that leaves nothing behind', async () => {
    const folder = await dir()
    const path = join(folder, 'pgpass')
    const file = new PgpassFile(path, captureLogs().logger)
    await file.update('reports', credential({ database: 'reports', password: 'pw-r' }))
    await file.update('default', credential({ password: 'pw-d' }))
    expect(await readFile(path, 'utf8')).toBe(
      'db.example:5432:databricks_postgres:alice@example.com:pw-d\n' +
        'db.example:5432:reports:alice@example.com:pw-r\n',
    )
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(folder)).toEqual(['pgpass'])
  })

  it("replaces a target's line at its next credential, and narrows a wider file to 0600", async () => {
    const folder = await dir()
    const path = join(folder, 'pgpass')
    await writeFile(path, 'old\n', { mode: 0o644 })
    const file = new PgpassFile(path, captureLogs().logger)
    await file.update('default', credential({ password: 'pw-1' }))
    await file.update('default', credential({ password: 'pw-2' }))
    expect(await readFile(path, 'utf8')).toBe(
      'db.example:5432:databricks_postgres:alice@example.com:pw-2\n',
    )
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('logs a failed write with the path and code, never the password, and never rejects', async () => {
    const logs = captureLogs()
    const path = join(await dir(), 'missing-folder', 'pgpass')
    const file = new PgpassFile(path, logs.logger)
    await expect(file.update('default', credential({ password: 'pw-secret-9' }))).resolves.toBe(
      undefined,
    )
    expect(logs.text()).toContain('.pgpass not written')
    expect(logs.text()).toContain('ENOENT')
    expect(logs.text()).not.toContain('pw-secret-9')
  })
})

describe('BROKER_PGPASS_FILE with psql', () => {
  let lakebase: LakebaseLike

  async function psql(pgpassFile: string, password?: string) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      PGHOST: lakebase.db.host,
      PGPORT: String(lakebase.db.port),
      PGDATABASE: lakebase.db.database,
      PGUSER: lakebase.role,
      PGSSLMODE: 'disable',
      PGPASSFILE: pgpassFile,
      PGCONNECT_TIMEOUT: '5',
      ...(password === undefined ? {} : { PGPASSWORD: password }),
    }
    return run('psql', ['-w', '-At', '-c', 'select current_user'], { env })
  }

  it('lets psql log in with PGPASSFILE alone, before and after a rotation, and logs no token', async () => {
    lakebase = await lakebaseLike({ lifetimeS: 60 })
    cleanups.push(() => lakebase.close())
    const path = join(await dir(), 'pgpass')
    const clock = new ManualClock(Date.now())
    const { broker, logs } = await startTestBroker(
      { ...lakebase.brokerEnv, BROKER_PGPASS_FILE: path },
      { clock },
    )
    cleanups.push(() => broker.close())
    const minted = lakebase.workspace.credentials

    await untilFileHolds(
      path,
      (text) => minted.length === 1 && text.includes(minted[0]?.token ?? '-'),
    )
    expect((await psql(path)).stdout.trim()).toBe(lakebase.role)
    expect((await stat(path)).mode & 0o777).toBe(0o600)

    const refreshAt = clock.nextTimerAt() ?? expect.fail('no refresh scheduled')
    await clock.advance(refreshAt - clock.now())
    const text = await untilFileHolds(
      path,
      (text) => minted.length === 2 && text.includes(minted[1]?.token ?? '-'),
    )
    expect(text.split('\n').filter(Boolean)).toHaveLength(1)

    // The strict stand-in has moved the role to the new token: the old one is refused now.
    const old = minted[0]?.token ?? ''
    await expect(psql('/nonexistent', old)).rejects.toThrow(/password authentication failed/)
    expect((await psql(path)).stdout.trim()).toBe(lakebase.role)

    for (const { token } of minted) expect(logs.text()).not.toContain(token)
  })
})
