import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, tempDir, waitFor } from '../support/kit.js'
import { type Spawned, spawnTs } from '../support/process.js'

function postgresProcessesFor(dataDir: string): string {
  try {
    return execFileSync('pgrep', ['-f', dataDir], { encoding: 'utf8' })
  } catch {
    return ''
  }
}

describe('npm start (lakebase-broker dev) with nothing configured', () => {
  let env: Record<string, string>
  let base: string
  let stateDir: string
  const children: Spawned[] = []

  beforeAll(async () => {
    // A private (0700) folder, as mktemp makes: npm start must still let Postgres reach it.
    stateDir = join(await tempDir('lakebase-state-'), '.lakebase')
    const port = await freePort()
    env = {
      LAKEBASE_STATE_DIR: stateDir,
      LAKEBASE_EMBEDDED_PORT: String(await freePort()),
      BROKER_PORT: String(await freePort()),
      PORT: String(port),
      XDG_CONFIG_HOME: await tempDir('lakebase-xdg-'),
      LAKEBASE_EMBEDDED_TOKEN_TTL_S: '20',
      BROKER_MIN_TTL_S: '2',
    }
    base = `http://127.0.0.1:${port}`
  })
  afterAll(async () => {
    for (const c of children) await c.kill('SIGKILL')
  })

  const start = async () => {
    const child = spawnTs('cli/main.ts', ['dev'], env)
    children.push(child)
    await child.waitFor('Lakebase stack is running', 60_000)
    return child
  }

  it('runs everything on an embedded Postgres, rotates its token, and keeps data across Ctrl-C', async () => {
    const first = await start()
    expect(first.output()).toContain(`${base}/api/health`)
    expect((await fetch(`${base}/api/health`)).status).toBe(200)
    const created = await fetch(`${base}/api/preferences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ preference_key: 'theme', preference_value: { mode: 'dark' } }),
    })
    expect(created.status).toBe(201)
    expect(await created.json()).toMatchObject({ user_id: 'dev-user@example.com' })

    type Health = { credential: { source: string; user: string; expires_at: string } }
    const health = async () => (await (await fetch(`${base}/api/health/database`)).json()) as Health
    const before = await health()
    expect(before.credential).toMatchObject({ source: 'embedded', user: 'dev-user@example.com' })
    // The 20-second token is replaced by the broker at half its life; the service keeps working.
    await waitFor(
      async () => {
        const now = await health()
        return now.credential.expires_at !== before.credential.expires_at ? now : undefined
      },
      { timeoutMs: 20_000, everyMs: 200, retryErrors: true },
    )
    expect((await fetch(`${base}/api/preferences/theme`)).status).toBe(200)

    first.child.kill('SIGINT')
    expect(await first.exited).toBe(0)
    expect(postgresProcessesFor(join(stateDir, 'pg'))).toBe('')

    const second = await start()
    const kept = await fetch(`${base}/api/preferences/theme`)
    expect(kept.status).toBe(200)
    expect(await kept.json()).toMatchObject({ preference_value: { mode: 'dark' } })
    expect(second.output()).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
    second.child.kill('SIGINT')
    expect(await second.exited).toBe(0)
    expect(postgresProcessesFor(join(stateDir, 'pg'))).toBe('')
  }, 120_000)
})
