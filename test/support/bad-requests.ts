import fc from 'fast-check'
import { DEFAULT_PREFERENCE_KEYS } from '../../cli/functions-config.js'

/**
 * The fuzz generators (fast-check arbitraries) of bad input to the functions: strings that break
 * things, JSON from plain to absurd, every route's bodies, queries and paths, headers, and the
 * ways a body goes on the wire. test/reliability/bad-input.test.ts drives them through every
 * route; other tests may take the parts they need.
 */

/** Strings that break things: empties, numbers that are not, encodings, controls, unicode. */
export const nasty = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\t',
    'null',
    'undefined',
    'NaN',
    'Infinity',
    '-1',
    '0',
    '1.5',
    '1e309',
    '-0',
    '0x10',
    '9'.repeat(40),
    '../',
    '..%2F..%2F',
    '%00',
    '%',
    '%ZZ',
    '%E0%A4%A',
    '%C3%28',
    '\u0000',
    'a\u0000b',
    '\uD800',
    '\uDFFF\uD800',
    '😀',
    '\u202Etxt',
    'İı',
    'ß',
    '\uFEFF',
    "'; drop table user_preferences; --",
    '<script>alert(1)</script>',
    '{}',
    '[]',
    '{"$ne":null}',
    'theme ',
    'THEME',
  ),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map(String.fromCharCode) }),
  fc.string({ unit: 'grapheme', minLength: 250, maxLength: 320 }),
  fc.string({ maxLength: 12 }),
)
export const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DEFAULT_PREFERENCE_KEYS) },
  { weight: 1, arbitrary: nasty },
)
export const int = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, -1, 1, 1000, 1001, 2 ** 31, 2 ** 53, -(2 ** 53)),
  fc.double(),
)

/** A JSON value, from plain to absurd: deep nesting, huge strings, the sizes at the limits. */
export const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nasty },
  { weight: 1, arbitrary: int },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => nested(depth)),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 100 * 1024 - 64, max: 100 * 1024 + 64 })
      .map((size) => ({ blob: 'x'.repeat(size - 12) })),
  },
  { weight: 1, arbitrary: fc.constantFrom({ s: '\u0000' }, { '\u0000': 1 }, { s: '\uD800' }) },
)

/** JSON text spliced in as is: nesting deeper than JSON.stringify can recurse. */
export class RawJson {
  constructor(readonly text: string) {}
}

export function nested(depth: number): RawJson {
  const open = Array.from({ length: depth }, (_, i) => (i % 2 === 0 ? '{"a":' : '[')).join('')
  const close = Array.from({ length: depth }, (_, i) => (i % 2 === 0 ? '}' : ']'))
    .reverse()
    .join('')
  return new RawJson(`${open}1${close}`)
}

/** JSON.stringify, with any {@link RawJson} inside written out as its text. */
export function toJson(value: unknown): string {
  const raw: string[] = []
  const text =
    JSON.stringify(value, (_key, v: unknown) => {
      if (!(v instanceof RawJson)) return v
      raw.push(v.text)
      // Private-use characters: JSON.stringify leaves them as they are, so they can be found.
      return `\uE000${raw.length - 1}\uE000`
    }) ?? ''
  return text.replace(/"\uE000(\d+)\uE000"/g, (_match, i: string) => raw[Number(i)] ?? 'null')
}

/**
 * Mostly a valid value, sometimes a bad one: most requests get past the first check, so that
 * the bad part reaches the code behind it (the validation, the database).
 */
export function validOr<T>(
  valid: fc.Arbitrary<T>,
  bad: fc.Arbitrary<unknown>,
): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: bad })
}

/**
 * A route's body: every field (each valid or not), or some of them with strangers, or not an
 * object at all.
 */
export function fields(spec: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const some = fc
    .tuple(fc.record(spec, { requiredKeys: [] }), fc.dictionary(nasty, jsonValue, { maxKeys: 2 }))
    .map(([known, strangers]) => ({ ...strangers, ...known }))
  return fc.oneof(
    { weight: 6, arbitrary: fc.record(spec) },
    { weight: 2, arbitrary: some },
    { weight: 1, arbitrary: jsonValue },
  )
}

export const jsonObject = fc.dictionary(
  fc.string({ maxLength: 10 }),
  fc.jsonValue({ maxDepth: 2 }),
  {
    maxKeys: 4,
  },
)

const isoDate = fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
export const timestamp = validOr(
  isoDate,
  fc.oneof(
    fc.constantFrom('2026-11-26T19:00:00', '2026-13-40T99:99:99Z', '0000-01-01T00:00:00Z', 'now'),
    fc.constantFrom('+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z'),
    nasty,
  ),
)
export const status = validOr(
  fc.constantFrom('SUCCESS', 'ERROR', 'TIMEOUT'),
  fc.oneof(fc.constant('success'), nasty),
)
export const endpointName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,30}$/)

export const BODIES = {
  preference: fields({ preference_key: key, preference_value: validOr(jsonObject, jsonValue) }),
  preferenceValue: fields({ preference_value: validOr(jsonObject, jsonValue) }),
  log: fields({
    endpoint_name: validOr(endpointName, nasty),
    inputs: validOr(jsonObject, jsonValue),
    predictions: jsonValue,
    status,
    execution_time_ms: validOr(fc.nat(), int),
    error_message: validOr(
      fc.string(),
      fc.oneof(nasty, fc.string({ minLength: 10_000, maxLength: 10_010 })),
    ),
    request_id: validOr(fc.uuid(), nasty),
    created_at: timestamp,
    completed_at: timestamp,
  }),
  invoke: fields({
    endpoint_name: validOr(endpointName, nasty),
    inputs: validOr(jsonObject, jsonValue),
    timeout_seconds: validOr(fc.integer({ min: 1, max: 300 }), int),
  }),
}

/** A cursor: random, base64 of the wrong JSON, a right shape with wrong values, too long. */
export const cursor = fc.oneof(
  nasty,
  fc.base64String({ maxLength: 60 }),
  fc
    .record({ t: fc.oneof(timestamp, int), i: fc.oneof(int, nasty) }, { requiredKeys: [] })
    .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
  fc.string({ minLength: 201, maxLength: 260 }),
)

export type Query = Array<[string, string]>
export const query = (params: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Query> =>
  fc
    .tuple(
      fc.record(params, { requiredKeys: [] }),
      fc.array(fc.tuple(fc.constantFrom(...Object.keys(params), 'x'), nasty), { maxLength: 2 }),
    )
    .map(([known, extra]) => [
      ...Object.entries(known).filter((e): e is [string, string] => e[1] !== undefined),
      ...extra,
    ])

export const number = fc.oneof(int.map(String), nasty)

export interface Route {
  name: string
  methods: readonly string[]
  path: fc.Arbitrary<string>
  query?: fc.Arbitrary<Query>
  body?: fc.Arbitrary<unknown>
}

export const ROUTES: Route[] = [
  {
    name: '/api/preferences',
    methods: ['GET', 'POST'],
    path: fc.constant('/api/preferences'),
    query: query({ preference_key: key }),
    body: BODIES.preference,
  },
  {
    name: '/api/preferences/{key}',
    methods: ['GET', 'PUT', 'DELETE'],
    path: key.map((k) => `/api/preferences/${encodeMaybe(k)}`),
    body: BODIES.preferenceValue,
  },
  {
    name: '/api/inference-logs',
    methods: ['GET', 'POST'],
    path: fc.constant('/api/inference-logs'),
    query: query({
      limit: validOr(fc.integer({ min: 1, max: 1000 }).map(String), number) as fc.Arbitrary<string>,
      cursor,
      endpoint_name: validOr(endpointName, nasty) as fc.Arbitrary<string>,
      status: status as fc.Arbitrary<string>,
    }),
    body: BODIES.log,
  },
  {
    name: '/api/model-serving/logs',
    methods: ['GET'],
    path: fc.constant('/api/model-serving/logs'),
    query: query({
      limit: validOr(fc.integer({ min: 1, max: 1000 }).map(String), number) as fc.Arbitrary<string>,
      offset: validOr(fc.nat(100_000).map(String), number) as fc.Arbitrary<string>,
    }),
  },
  {
    name: '/api/model-serving/invoke',
    methods: ['POST'],
    path: fc.constant('/api/model-serving/invoke'),
    body: BODIES.invoke,
  },
  {
    name: '/api/model-serving/endpoints',
    methods: ['GET'],
    path: fc.constant('/api/model-serving/endpoints'),
  },
  {
    name: '/api/health',
    methods: ['GET'],
    path: fc.constantFrom('/api/health', '/api/health/database'),
  },
  {
    name: '/api/openapi.json and /api/docs',
    methods: ['GET'],
    path: fc.constantFrom('/api/openapi.json', '/api/docs', '/api/docs/'),
  },
  {
    name: 'paths that do not exist',
    methods: ['GET', 'POST'],
    path: fc
      .array(fc.oneof(nasty, fc.constantFrom('api', 'preferences', '..', '.', '')), {
        minLength: 1,
        maxLength: 4,
      })
      .map((segments) => `/${segments.map(encodeMaybe).join('/')}`),
  },
]

/** Usually percent-encoded; sometimes as is, so that raw `%`, `/`, `?` and `#` reach the router. */
export function encodeMaybe(segment: string): string {
  if (segment.length % 3 === 0) return segment
  try {
    return encodeURIComponent(segment)
  } catch {
    // A lone surrogate has no UTF-8: left as is, the URL parser makes it U+FFFD.
    return segment
  }
}

/** A header value as bytes on the wire: UTF-8, then whatever a header can carry. */
export function headerValue(text: string): string {
  return Buffer.from(text, 'utf8')
    .toString('latin1')
    .replace(/[\0\r\n]/g, '')
}

export const identityValue = fc.oneof(
  { weight: 4, arbitrary: fc.emailAddress() },
  {
    weight: 1,
    arbitrary: fc.constantFrom('alice@example.com', ' alice@example.com ', 'ALICE@EXAMPLE.COM'),
  },
  { weight: 1, arbitrary: nasty },
  { weight: 1, arbitrary: fc.string({ minLength: 256, maxLength: 300 }) },
)
export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/json-patch+json',
  '',
  ';;;',
]
/** A header that is usually there and right, sometimes wrong, sometimes missing. */
const header = (valid: fc.Arbitrary<string>, bad: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 6, arbitrary: valid },
    { weight: 1, arbitrary: bad },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )
/** A header that is usually absent. */
const rarely = (values: fc.Arbitrary<string>) => fc.option(values, { freq: 6, nil: undefined })

/** How the body goes on the wire: JSON, raw text, broken JSON, bytes that are not UTF-8, huge. */
const encodedBody = (body: fc.Arbitrary<unknown>): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    { weight: 6, arbitrary: body.map(toJson) },
    { weight: 1, arbitrary: body.map((b) => `\uFEFF${toJson(b)}`) },
    { weight: 1, arbitrary: body.map((b) => toJson(b).slice(0, -1)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        '{"preference_key":"theme",}',
        "{'preference_key':'theme'}",
        '{"a":NaN}',
        'null',
        '[]',
        '"x"',
        '{"__proto__":{"polluted":true},"preference_value":{}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 64 })
        .map((bytes) => Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, ...bytes])),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 110 * 1024, max: 400 * 1024 })
        .map((n) => `{"preference_value":{"x":"${'y'.repeat(n)}"}}`),
    },
  )

export interface BadRequest {
  route: string
  trusted: boolean
  method: string
  url: string
  headers: Record<string, string>
  body: string | Uint8Array | undefined
}

/**
 * A bad request to any route of the functions: odd identities, sizes, encodings, cursors, JSON
 * nesting and unicode, in every header and field, mostly valid enough to reach the code behind
 * the first check. `userTokens` are what it sends as a signed-in user's access token: secrets,
 * for the test to search its outputs for.
 */
export function badRequests(options: { userTokens: readonly string[] }): fc.Arbitrary<BadRequest> {
  const headers = fc
    .record({
      'x-forwarded-email': header(fc.emailAddress(), identityValue),
      'x-forwarded-user': rarely(identityValue),
      'x-forwarded-access-token': rarely(fc.oneof(fc.constantFrom(...options.userTokens), nasty)),
      'content-type': header(
        fc.constant('application/json'),
        fc.oneof(fc.constantFrom(...CONTENT_TYPES), nasty),
      ),
      'content-encoding': rarely(fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-unknown')),
      'x-request-id': rarely(fc.oneof(nasty, fc.string({ minLength: 90, maxLength: 120 }))),
      accept: rarely(fc.constantFrom('application/json', 'text/html', '*/*', '')),
      'content-length': rarely(fc.constantFrom('0', '1', '-1', '99999999999', 'abc')),
    })
    .map((h) =>
      Object.fromEntries(
        Object.entries(h)
          .filter((e): e is [string, string] => e[1] !== undefined)
          .map(([name, value]) => [name, headerValue(value)]),
      ),
    )

  return fc
    .constantFrom(...ROUTES)
    .chain((route) =>
      fc.record({
        route: fc.constant(route.name),
        trusted: fc.boolean(),
        method: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom(...route.methods) },
          { weight: 1, arbitrary: fc.constantFrom('GET', 'PATCH', 'OPTIONS', 'HEAD', 'DELETE') },
        ),
        path: route.path,
        query: route.query ?? fc.constant([] as Query),
        headers,
        body: route.body ? fc.option(encodedBody(route.body), { freq: 8 }) : fc.constant(null),
      }),
    )
    .map(({ path, query, method, body, ...rest }) => {
      const search = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeMaybe(v)}`).join('&')
      const withBody = method !== 'GET' && method !== 'HEAD' && body !== null
      return {
        ...rest,
        method,
        url: search === '' ? path : `${path}?${search}`,
        body: withBody ? body : undefined,
      }
    })
}
