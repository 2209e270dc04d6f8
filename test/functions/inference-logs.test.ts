import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'

let stack: FunctionsStack
beforeAll(async () => {
  stack = await startFunctionsStack()
})
afterAll(async () => {
  await stack?.close()
})

type Log = {
  id: number
  request_id: string
  endpoint_name: string
  status: string
  created_at: string
}
const log = (over: Record<string, unknown> = {}) => ({
  endpoint_name: 'chat',
  inputs: { prompt: 'hi' },
  predictions: { text: 'hello' },
  status: 'SUCCESS',
  execution_time_ms: 12,
  ...over,
})

async function count(user: string): Promise<number> {
  const [row] = await stack.db
    .sql`select count(*)::int as n from model_inference_logs where user_id = ${user}`
  return row?.n as number
}

describe('/api/inference-logs', () => {
  it('writes a log with 201, and a repeated request_id returns the first row with 200', async () => {
    const user = 'idempotent@example.com'
    const first = await stack.call('POST', '/api/inference-logs', {
      user,
      body: log({ request_id: 'r-1' }),
    })
    expect(first.status).toBe(201)
    const row = (await first.json()) as Log
    expect(row).toMatchObject({
      request_id: 'r-1',
      user_id: user,
      status: 'SUCCESS',
      inputs: { prompt: 'hi' },
    })
    const again = await stack.call('POST', '/api/inference-logs', {
      user,
      body: log({ request_id: 'r-1', status: 'ERROR' }),
    })
    expect(again.status).toBe(200)
    expect(await again.json()).toMatchObject({ id: row.id, status: 'SUCCESS' })
    expect(await count(user)).toBe(1)
    const otherUser = await stack.call('POST', '/api/inference-logs', {
      user: 'someone-else@example.com',
      body: log({ request_id: 'r-1' }),
    })
    expect(otherUser.status).toBe(201)
  })

  it('writes concurrent retries of one request_id once', async () => {
    const user = 'retries@example.com'
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        stack.call('POST', '/api/inference-logs', { user, body: log({ request_id: 'same' }) }),
      ),
    )
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1)
    expect(responses.filter((r) => r.status === 200)).toHaveLength(19)
    expect(await count(user)).toBe(1)
  })

  it('pages newest first with an opaque cursor, every row exactly once', async () => {
    const user = 'pager@example.com'
    // Same timestamp for several rows: the id breaks the tie.
    for (let i = 0; i < 7; i++) {
      const created_at = new Date(Date.UTC(2026, 0, 1, 0, 0, i < 3 ? 0 : i)).toISOString()
      const r = await stack.call('POST', '/api/inference-logs', {
        user,
        body: log({ request_id: `p-${i}`, created_at }),
      })
      expect(r.status).toBe(201)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor ? `?limit=3&cursor=${cursor}` : '?limit=3'
      const response = await stack.call('GET', `/api/inference-logs${query}`, { user })
      expect(response.status).toBe(200)
      const page = (await response.json()) as { logs: Log[]; next_cursor: string | null }
      seen.push(...page.logs.map((l) => l.request_id))
      cursor = page.next_cursor
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    expect(seen).toEqual(['p-6', 'p-5', 'p-4', 'p-3', 'p-2', 'p-1', 'p-0'])
  })

  it('filters by endpoint_name and status', async () => {
    const user = 'filter@example.com'
    await stack.call('POST', '/api/inference-logs', {
      user,
      body: log({ endpoint_name: 'a', status: 'SUCCESS' }),
    })
    await stack.call('POST', '/api/inference-logs', {
      user,
      body: log({ endpoint_name: 'b', status: 'ERROR', error_message: 'boom' }),
    })
    await stack.call('POST', '/api/inference-logs', {
      user,
      body: log({ endpoint_name: 'b', status: 'TIMEOUT' }),
    })
    const byEndpoint = (await (
      await stack.call('GET', '/api/inference-logs?endpoint_name=b', { user })
    ).json()) as { logs: Log[] }
    expect(byEndpoint.logs.map((l) => l.status).sort()).toEqual(['ERROR', 'TIMEOUT'])
    const byStatus = (await (
      await stack.call('GET', '/api/inference-logs?status=ERROR', { user })
    ).json()) as { logs: Log[] }
    expect(byStatus.logs).toHaveLength(1)
  })

  it.each([
    ['limit=0', '?limit=0'],
    ['limit=1001', '?limit=1001'],
    ['limit=abc', '?limit=abc'],
    ['a forged cursor', '?cursor=bm90LWEtY3Vyc29y'],
    ['a cursor of garbage', '?cursor=%%%'],
    ['an unknown status', '?status=MAYBE'],
  ])('refuses %s with 400 INVALID_REQUEST', async (_name, query) => {
    const response = await stack.call('GET', `/api/inference-logs${query}`)
    expect(response.status).toBe(400)
    expect(((await response.json()) as { detail: { error_code: string } }).detail.error_code).toBe(
      'INVALID_REQUEST',
    )
  })

  it.each([
    ['a missing endpoint_name', { inputs: {}, status: 'SUCCESS' }],
    ['inputs that are not an object', log({ inputs: 'text' })],
    ['an unknown status', log({ status: 'DONE' })],
    ['a negative execution time', log({ execution_time_ms: -1 })],
    ['a timestamp without a zone', log({ created_at: '2026-01-01T00:00:00' })],
    ['a request_id over 100 characters', log({ request_id: 'x'.repeat(101) })],
  ])('refuses a log with %s and writes nothing', async (_name, body) => {
    const user = 'bad-log@example.com'
    const response = await stack.call('POST', '/api/inference-logs', { user, body })
    expect(response.status).toBe(400)
    expect(await count(user)).toBe(0)
  })
})

describe('/api/model-serving/logs', () => {
  it('keeps the original offset shape, newest first, for the current user only', async () => {
    const user = 'offset@example.com'
    for (let i = 0; i < 5; i++) {
      await stack.call('POST', '/api/inference-logs', {
        user,
        body: log({
          request_id: `o-${i}`,
          created_at: new Date(Date.UTC(2026, 1, 1, 0, i)).toISOString(),
        }),
      })
    }
    const response = await stack.call('GET', '/api/model-serving/logs?limit=2&offset=1', { user })
    expect(response.status).toBe(200)
    const body = (await response.json()) as {
      logs: Log[]
      total_count: number
      limit: number
      offset: number
    }
    expect(body).toMatchObject({ total_count: 5, limit: 2, offset: 1 })
    expect(body.logs.map((l) => l.request_id)).toEqual(['o-3', 'o-2'])
  })

  it.each(['?limit=0', '?limit=5000', '?offset=-1', '?offset=100000000'])(
    'bounds %s with 400',
    async (query) => {
      expect((await stack.call('GET', `/api/model-serving/logs${query}`)).status).toBe(400)
    },
  )
})
