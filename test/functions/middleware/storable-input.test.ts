import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import {
  MAX_JSON_DEPTH,
  storableInput,
  unstorableJson,
} from '../../../functions/middleware/storable-input.js'
import { errorHandler } from '../../../shared/process/error-handler.js'
import { captureLogs } from '../../support/capture-logs.js'

const nest = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`

describe('unstorableJson', () => {
  it.each([
    ['a plain object', '{"a":[1,{"b":"c"}]}', undefined],
    [`nesting of exactly ${MAX_JSON_DEPTH}`, nest(MAX_JSON_DEPTH), undefined],
    [`nesting of ${MAX_JSON_DEPTH + 1}`, nest(MAX_JSON_DEPTH + 1), 'nesting deeper than 64 levels'],
    ['brackets inside strings', `{"a":"${'['.repeat(200)}"}`, undefined],
    ['an escaped quote before brackets', `{"a":"\\"${'{'.repeat(100)}"}`, undefined],
    ['a \\u0000 in a value', '{"a":"x\\u0000y"}', 'a \\u0000 escape (NUL)'],
    ['a \\u0000 in a key', '{"\\u0000":1}', 'a \\u0000 escape (NUL)'],
    ['an escaped backslash before u0000', '{"a":"\\\\u0000"}', undefined],
    ['a surrogate pair', '{"a":"\\ud83d\\ude00"}', undefined],
    ['a lone high surrogate', '{"a":"\\ud800"}', 'an unpaired surrogate escape'],
    [
      'a high surrogate before a non-surrogate',
      '{"a":"\\ud800\\u0041"}',
      'an unpaired surrogate escape',
    ],
    ['a lone low surrogate', '{"a":"\\udc00x"}', 'an unpaired surrogate escape'],
  ])('%s: %s', (_name, text, expected) => {
    expect(unstorableJson(text)).toBe(expected)
  })
})

describe('storableInput', () => {
  const app = new Hono()
  app.use(storableInput())
  app.post('/', async (c) => c.json(await c.req.json()))
  app.get('/', (c) => c.json({ q: c.req.query('q') }))
  app.onError(errorHandler(captureLogs().logger))

  it('refuses a JSON body nested too deeply with 400 INVALID_REQUEST, before the handler', async () => {
    const response = await app.request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: nest(10_000),
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({
      detail: {
        error_code: 'INVALID_REQUEST',
        technical_details: { fields: [{ field: '(body)' }] },
      },
    })
  })

  it('passes a storable body on, readable again by the handler', async () => {
    const response = await app.request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":[1]}',
    })
    expect(await response.json()).toEqual({ a: [1] })
  })

  it('refuses a query parameter holding NUL, naming it', async () => {
    const response = await app.request('/?q=a%00b')
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({
      detail: { technical_details: { fields: [{ field: 'q' }] } },
    })
  })
})
