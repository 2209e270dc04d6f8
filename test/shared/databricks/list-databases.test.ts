import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  getDatabase,
  LIST_PAGE_SIZE,
  listAutoscalingEndpoints,
  listProvisionedInstances,
} from '../../../shared/databricks/list-databases.js'
import { bindWorkspaceCall } from '../../../shared/databricks/workspace-http.js'
import { onUnhandled } from '../../../testing/unhandled.js'
import { autoscalingListing, createMockWorkspace } from '../../testing/workspace/index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

describe('listing Lakebase databases', () => {
  it('pages through every Provisioned instance, with its state and readiness', async () => {
    const count = LIST_PAGE_SIZE + 3
    const ws = createMockWorkspace({
      instances: Array.from({ length: count }, (_, i) => ({
        name: `db-${i}`,
        state: i === 0 ? ('STARTING' as const) : ('AVAILABLE' as const),
      })),
    })
    server.use(...ws.handlers)
    const call = bindWorkspaceCall(ws.host, ws.pat, AbortSignal.timeout(5000))
    const found = await listProvisionedInstances(call)
    expect(found).toHaveLength(count)
    expect(ws.calls.listInstances).toBe(2)
    expect(found[0]).toMatchObject({ name: 'db-0', state: 'STARTING', ready: false })
    expect(found[1]).toMatchObject({ kind: 'provisioned', state: 'AVAILABLE', ready: true })
  })

  it('walks projects, branches and endpoints for Autoscaling', async () => {
    const ws = createMockWorkspace({
      endpoints: [
        { name: 'projects/a/branches/main/endpoints/primary', current_state: 'ACTIVE' },
        { name: 'projects/a/branches/dev/endpoints/primary', current_state: 'INIT' },
        { name: 'projects/b/branches/main/endpoints/ro', current_state: 'IDLE', host: 'ep-b' },
      ],
    })
    const listing = autoscalingListing(ws)
    server.use(...ws.handlers, ...listing.handlers)
    const call = bindWorkspaceCall(ws.host, ws.pat, AbortSignal.timeout(5000))
    const found = await listAutoscalingEndpoints(call)
    expect(found.map((e) => [e.name, e.state, e.ready])).toEqual([
      ['projects/a/branches/main/endpoints/primary', 'ACTIVE', true],
      ['projects/a/branches/dev/endpoints/primary', 'INIT', false],
      ['projects/b/branches/main/endpoints/ro', 'IDLE', true],
    ])
    expect(found[2]?.host).toBe('ep-b')
    expect(listing.calls).toEqual({ listProjects: 1, listBranches: 2, listEndpoints: 3 })

    const stranger = bindWorkspaceCall(ws.host, 'dapi-wrong', AbortSignal.timeout(5000))
    await expect(listAutoscalingEndpoints(stranger)).rejects.toMatchObject({
      errorClass: 'unauthorized',
      upstreamErrorCode: 'UNAUTHENTICATED',
    })
  })

  it('looks one up by name, and reports a missing one as not_found', async () => {
    const ws = createMockWorkspace({ instances: [{ name: 'orders', state: 'STOPPED' }] })
    server.use(...ws.handlers)
    const call = bindWorkspaceCall(ws.host, ws.pat, AbortSignal.timeout(5000))
    expect(await getDatabase(call, 'provisioned', 'orders')).toMatchObject({
      state: 'STOPPED',
      ready: false,
    })
    await expect(getDatabase(call, 'provisioned', 'nope')).rejects.toMatchObject({
      errorClass: 'not_found',
    })
    expect(await getDatabase(call, 'autoscaling', ws.endpointName)).toMatchObject({
      kind: 'autoscaling',
      state: 'ACTIVE',
      ready: true,
    })
  })

  it('refuses a listing that never stops paging', async () => {
    const ws = createMockWorkspace()
    server.use(...ws.handlers)
    ws.script(
      'listInstances',
      ...Array.from({ length: 200 }, () => ({
        body: { database_instances: [], next_page_token: 'again' },
      })),
    )
    const call = bindWorkspaceCall(ws.host, ws.pat, AbortSignal.timeout(5000))
    await expect(listProvisionedInstances(call)).rejects.toThrow(/kept paging/)
  })
})
