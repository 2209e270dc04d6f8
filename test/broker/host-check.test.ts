import { afterEach, describe, expect, it } from 'vitest'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { loopbackWorkspace } from '../support/loopback-workspace.js'
import { waitFor } from '../support/wait-for.js'
import type { MockWorkspace } from '../testing/workspace/index.js'

/**
 * Issue 22, item 4: a given `PGHOST` that the instance or endpoint does not list is a warning at
 * broker start-up, naming both hosts. A real broker against the kit on a loopback socket.
 */

const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function broker(ws: MockWorkspace, env: Record<string, string>) {
  const started = await startTestBroker({
    ...ws.env({ target: env.LAKEBASE_ENDPOINT === undefined ? 'provisioned' : 'autoscaling' }),
    DATABRICKS_CONFIG_FILE: '/nonexistent/.databrickscfg',
    XDG_CONFIG_HOME: '/nonexistent',
    ...env,
  })
  cleanups.push(() => started.broker.close())
  return started
}

/** The start-up log lines at warn (pino level 40) and info (30) about the target's host. */
function hostLines(text: string, level: number): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === level && /PGHOST/.test(line.msg))
    .map((line) => line.msg)
}

describe('a given PGHOST at broker start-up', () => {
  it("warns when it is not one of the instance's hosts, naming both, and still serves", async () => {
    const ws = await loopbackWorkspace()
    const b = await broker(ws, { PGHOST: 'instance-old.database.cloud.databricks.com' })
    const instance = ws.instances.get(ws.instanceName)
    const [warning] = await waitFor(() => {
      const lines = hostLines(b.logs.text(), 40)
      return lines.length > 0 && lines
    })
    expect(warning).toBe(
      `PGHOST is instance-old.database.cloud.databricks.com, but database instance ${ws.instanceName} lists ${instance?.read_write_dns} and ${instance?.read_only_dns}: a stale PGHOST connects to another database; set PGHOST to ${instance?.read_write_dns}, or unset it (and LAKEBASE_HOST) to look the host up`,
    )
    const served = await fetch(`${b.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
    expect(served.status).toBe(200)
  })

  it("warns when it is an endpoint's pooled host, which takes no OAuth token", async () => {
    const ws = await loopbackWorkspace({ endpoints: [{ name: ENDPOINT }] })
    const pooled = ws.endpoints.get(ENDPOINT)?.read_write_pooled_host ?? ''
    const b = await broker(ws, { LAKEBASE_ENDPOINT: ENDPOINT, PGHOST: pooled })
    const [warning] = await waitFor(() => {
      const lines = hostLines(b.logs.text(), 40)
      return lines.length > 0 && lines
    })
    expect(warning).toMatch(
      new RegExp(
        `^PGHOST ${pooled} is the pooled host of endpoint ${ENDPOINT}, and Lakebase's pooler accepts no OAuth token; set PGHOST to ${ws.endpoints.get(ENDPOINT)?.host}`,
      ),
    )
  })

  it("says nothing when it is the endpoint's own host, and looks nothing up for a loopback one", async () => {
    const ws = await loopbackWorkspace({ endpoints: [{ name: ENDPOINT }] })
    const own = ws.endpoints.get(ENDPOINT)?.host ?? ''
    const b = await broker(ws, { LAKEBASE_ENDPOINT: ENDPOINT, PGHOST: own.toUpperCase() })
    await waitFor(() => b.logs.text().includes('start-up checks passed'))
    expect(ws.calls.getEndpoint).toBe(1)

    const local = await loopbackWorkspace()
    const c = await broker(local, { PGHOST: '127.0.0.1' })
    await waitFor(() => c.logs.text().includes('start-up checks passed'))
    expect(local.calls.getInstance).toBe(0)
    expect(hostLines(b.logs.text(), 40)).toEqual([])
    expect(hostLines(c.logs.text(), 40)).toEqual([])
  })

  it('says at info that it could not check when the lookup fails, and serves all the same', async () => {
    const ws = await loopbackWorkspace()
    ws.script('getInstance', { status: 403 })
    const b = await broker(ws, { PGHOST: 'db.internal.example' })
    const [line] = await waitFor(() => {
      const lines = hostLines(b.logs.text(), 30)
      return lines.length > 0 && lines
    })
    expect(line).toBe('could not check PGHOST against the database')
    expect(hostLines(b.logs.text(), 40)).toEqual([])
    const served = await fetch(`${b.url}/v1/credentials`, {
      headers: { authorization: `Bearer ${TEST_CLIENT_TOKEN}` },
    })
    expect(served.status).toBe(200)
  })
})
