import { decodeJwt } from 'jose'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { onUnhandled } from '../../../testing/unhandled.js'
import { autoscalingListing, createMockWorkspace, type MockWorkspace } from './index.js'

const server = setupServer()
beforeAll(() => server.listen(onUnhandled('error')))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const BRANCH = 'projects/shop/branches/main'

function workspace(options: Parameters<typeof createMockWorkspace>[0] = {}): MockWorkspace {
  const ws = createMockWorkspace(options)
  server.use(...ws.handlers)
  return ws
}

/** `GET /api/2.0/postgres/{name}`'s answer, as far as these tests read it. */
interface EndpointBody {
  [field: string]: unknown
  status: { [field: string]: unknown; hosts: Record<string, string>; group: unknown }
}

async function getEndpoint(ws: MockWorkspace, name: string) {
  const response = await fetch(`${ws.host}/api/2.0/postgres/${name}`, {
    headers: { Authorization: `Bearer ${ws.pat}` },
  })
  return { status: response.status, body: (await response.json()) as EndpointBody }
}

function askCredential(ws: MockWorkspace, token: string, body: Record<string, unknown>) {
  return fetch(`${ws.host}/api/2.0/postgres/credentials`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: JSON.stringify({ endpoint: ws.endpointName, ...body }),
  })
}

describe('the kit’s Autoscaling endpoints, as service/postgres.py describes them', () => {
  it('answers a read-write endpoint with its type, state, host and pooled host, and no read_only_host', async () => {
    const ws = workspace()
    const endpoint = ws.endpoints.get(ws.endpointName)
    const { status, body } = await getEndpoint(ws, ws.endpointName)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      name: ws.endpointName,
      endpoint_id: 'primary',
      parent: 'projects/test-project/branches/production',
      status: {
        current_state: 'ACTIVE',
        endpoint_type: 'ENDPOINT_TYPE_READ_WRITE',
        disabled: false,
        group: { min: 1, max: 1, enable_readable_secondaries: false },
      },
    })
    expect(body.status.hosts).toEqual({
      host: endpoint?.host,
      read_write_pooled_host: endpoint?.read_write_pooled_host,
    })
    expect(endpoint?.read_write_pooled_host).toMatch(/-pooler\./)
    expect(endpoint?.read_write_pooled_host).not.toBe(endpoint?.host)
  })

  it('lists read_only_host on a read-write endpoint with readable secondaries', async () => {
    const ws = workspace({
      endpoints: [{ name: `${BRANCH}/endpoints/primary`, read_only_host: 'ep-ro.example' }],
    })
    const { body } = await getEndpoint(ws, `${BRANCH}/endpoints/primary`)
    expect(body.status.hosts.read_only_host).toBe('ep-ro.example')
    expect(body.status.group).toEqual({ min: 2, max: 2, enable_readable_secondaries: true })
  })

  it('answers a read-only endpoint with its host as read_only_host too, and only a read-only pooled host', async () => {
    const name = `${BRANCH}/endpoints/replica`
    const ws = workspace({ endpoints: [{ name, endpoint_type: 'ENDPOINT_TYPE_READ_ONLY' }] })
    const { body } = await getEndpoint(ws, name)
    const { hosts } = body.status
    expect(body.status.endpoint_type).toBe('ENDPOINT_TYPE_READ_ONLY')
    expect(hosts.read_only_host).toBe(hosts.host)
    expect(hosts.read_only_pooled_host).toMatch(/-pooler\./)
    expect(hosts).not.toHaveProperty('read_write_pooled_host')
  })

  it('follows a state, pending state and disabled flag changed mid-test', async () => {
    const ws = workspace()
    const endpoint = ws.endpoints.get(ws.endpointName)
    if (!endpoint) throw new Error('no endpoint')
    endpoint.current_state = 'IDLE'
    endpoint.pending_state = 'ACTIVE'
    endpoint.disabled = true
    const { body } = await getEndpoint(ws, ws.endpointName)
    expect(body.status).toMatchObject({
      current_state: 'IDLE',
      pending_state: 'ACTIVE',
      disabled: true,
    })
  })

  it('lists endpoints in the same shape as it answers one', async () => {
    const ws = workspace({
      endpoints: [
        { name: `${BRANCH}/endpoints/primary` },
        { name: `${BRANCH}/endpoints/replica`, endpoint_type: 'ENDPOINT_TYPE_READ_ONLY' },
      ],
    })
    server.use(...autoscalingListing(ws).handlers)
    const response = await fetch(`${ws.host}/api/2.0/postgres/${BRANCH}/endpoints`, {
      headers: { Authorization: `Bearer ${ws.pat}` },
    })
    const listed = ((await response.json()) as { endpoints: unknown[] }).endpoints
    expect(listed).toEqual([
      (await getEndpoint(ws, `${BRANCH}/endpoints/primary`)).body,
      (await getEndpoint(ws, `${BRANCH}/endpoints/replica`)).body,
    ])
  })
})

describe('the kit’s group credentials (group_name)', () => {
  const groups = { 'data-team': ['alice@example.com', 'bob@example.com'] }

  it("mints a member's group credential: the group's role logs in, the token's sub stays the caller", async () => {
    const seen: string[] = []
    const ws = workspace({
      identity: 'alice@example.com',
      groups,
      onCredentialMinted: (_token, _expiresAt, user) => {
        seen.push(user)
      },
    })
    const response = await askCredential(ws, ws.pat, { group_name: 'data-team' })
    expect(response.status).toBe(200)
    const { token } = (await response.json()) as { token: string }
    expect(decodeJwt(token).sub).toBe('alice@example.com')
    expect(seen).toEqual(['data-team'])
    expect(ws.credentials[0]).toMatchObject({ user: 'data-team', group: 'data-team' })
  })

  it('refuses a caller outside the group with 403, an unknown group with 404, and a blank one with 400', async () => {
    const ws = workspace({ identity: 'mallory@example.com', groups })
    const outside = await askCredential(ws, ws.pat, { group_name: 'data-team' })
    expect(outside.status).toBe(403)
    expect(await outside.json()).toMatchObject({ error_code: 'PERMISSION_DENIED' })
    const unknown = await askCredential(ws, ws.pat, { group_name: 'nobody' })
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' })
    expect((await askCredential(ws, ws.pat, { group_name: '' })).status).toBe(400)
    expect(ws.credentials).toEqual([])
  })

  it("mints the caller's own credential without group_name, as before", async () => {
    const ws = workspace({ identity: 'alice@example.com', groups })
    expect((await askCredential(ws, ws.pat, {})).status).toBe(200)
    expect(ws.credentials[0]?.user).toBe('alice@example.com')
    expect(ws.credentials[0]).not.toHaveProperty('group')
  })
})
