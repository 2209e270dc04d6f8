import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../support/free-port.js'
import { type Spawned, spawnTs } from '../support/process.js'

const TOKEN = 'process-test-client-token-42'
const PASSWORD = 'process-test-static-password'
const children: Spawned[] = []
afterEach(async () => {
  for (const c of children.splice(0)) await c.kill('SIGKILL')
})

function broker(env: Record<string, string>, args: string[] = []) {
  const child = spawnTs('cli/main.ts', ['broker', ...args], env)
  children.push(child)
  return child
}

describe('lakebase-broker broker (the process)', () => {
  it('prints its help and exits 0', async () => {
    const child = broker({}, ['--help'])
    expect(await child.exited).toBe(0)
    expect(child.output()).toContain('BROKER_TOKEN')
  })

  it('exits 2 naming what to set when nothing is configured', async () => {
    const child = broker({ XDG_CONFIG_HOME: '/nonexistent' })
    expect(await child.exited).toBe(2)
    expect(child.output()).toContain('fix: set DATABRICKS_HOST')
  })

  it('drains on SIGTERM: /readyz turns 503 while it still answers, then it exits 0', async () => {
    const port = await freePort()
    const child = broker({
      BROKER_PORT: String(port),
      BROKER_TOKEN: TOKEN,
      BROKER_DRAIN_S: '3',
      PGUSER: 'u',
      PGPASSWORD: PASSWORD,
      PGSSLMODE: 'disable',
    })
    await child.waitFor('broker listening')
    const base = `http://127.0.0.1:${port}`
    await child.waitFor('credential refreshed')
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
    const served = await fetch(`${base}/v1/credentials`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(((await served.json()) as { password: string }).password).toBe(PASSWORD)

    child.child.kill('SIGTERM')
    await child.waitFor('shutting down')
    const draining = await fetch(`${base}/readyz`)
    expect(draining.status).toBe(503)
    expect(await draining.json()).toMatchObject({ draining: true })
    expect(await child.exited).toBe(0)
    expect(child.output()).not.toContain(PASSWORD)
    expect(child.output()).not.toContain(TOKEN)
  })

  it('exits at once, with 1, on a second signal while it drains', async () => {
    const port = await freePort()
    const child = broker({
      BROKER_PORT: String(port),
      BROKER_TOKEN: TOKEN,
      BROKER_DRAIN_S: '600',
      PGUSER: 'u',
      PGPASSWORD: PASSWORD,
      PGSSLMODE: 'disable',
    })
    await child.waitFor('credential refreshed')
    child.child.kill('SIGTERM')
    await child.waitFor('shutting down')
    child.child.kill('SIGTERM')
    expect(await child.exited).toBe(1)
    expect(child.output()).toContain('broker: SIGTERM again: exiting at once')
  })
})
