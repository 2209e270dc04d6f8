import fc from 'fast-check'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PatAuth } from '../../shared/databricks/auth/pat.js'
import { ServingClient } from '../../shared/databricks/serving-client.js'
import { onUnhandled } from '../../testing/unhandled.js'
import { badRequests, ROUTES } from '../support/bad-requests.js'
import { TEST_CLIENT_TOKEN } from '../support/broker.js'
import { errorCodeOf } from '../support/error-body.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'
import { loopbackPassesThrough } from './harness.js'
import { countFromEnv, recordFigures } from './recorder.js'
import { trackSecrets } from './secrets.js'

/**
 * Generated bad requests against every route of the functions (driven in process with
 * `app.request()`, over a real Postgres and broker): odd identities, sizes, encodings, cursors,
 * JSON nesting, unicode, in every header and field. None may get a 5xx; every 4xx carries an
 * error_code; no refused request changes a row. `npm test` tries a quick subset; the reliability
 * run tries the full count (RELIABILITY_BAD_REQUESTS overrides both).
 */
const REQUESTS = countFromEnv('RELIABILITY_BAD_REQUESTS', 10_000, 500)
const SERVING_HOST = 'https://serving.test'
const SERVING_PAT = 'dapi0123456789abcdef0123456789abcdef'
/** What the fuzzer sends as a signed-in user's access token: secrets, to be found nowhere. */
const USER_TOKENS = ['user-access-token-7f3a9c1e5b2d4f60', 'user-access-token-0b8e4d6f2a9c1e37']
const SUPERUSER_PASSWORD = 'test-superuser-password'

const server = setupServer(
  http.post(`${SERVING_HOST}/serving-endpoints/:name/invocations`, () =>
    HttpResponse.json({ predictions: [{ ok: true }] }),
  ),
  http.get(`${SERVING_HOST}/api/2.0/serving-endpoints`, () =>
    HttpResponse.json({
      endpoints: [{ name: 'echo', state: { ready: 'READY', config_update: 'NOT_UPDATING' } }],
    }),
  ),
)
const secrets = trackSecrets('bad-input')
let stack: FunctionsStack

beforeAll(async () => {
  server.listen(onUnhandled(loopbackPassesThrough))
  stack = await startFunctionsStack({
    modelServing: new ServingClient({ auth: new PatAuth(SERVING_HOST, SERVING_PAT) }),
  })
  for (const token of USER_TOKENS) secrets.secret('a forwarded user access token', token)
  secrets.secret('the serving PAT', SERVING_PAT)
  secrets.secret('the broker client token', TEST_CLIENT_TOKEN)
  secrets.secret('the Postgres password', SUPERUSER_PASSWORD)
  secrets.output('functions logs', stack.logs.text)
})
afterAll(async () => {
  server.close()
  await stack?.close()
})

/**
 * A fingerprint of both tables that any insert, update or delete changes: the row count and the
 * sum of the rows' creating transaction ids (`xmin`). Cheap however large the rows grow.
 */
async function checksum(): Promise<string> {
  const [row] = await stack.db.sql<{ sum: string }[]>`
    select concat_ws(':',
      (select count(*) from user_preferences),
      (select sum(xmin::text::bigint) from user_preferences),
      (select count(*) from model_inference_logs),
      (select sum(xmin::text::bigint) from model_inference_logs)) as sum`
  return row?.sum ?? ''
}

describe('bad requests to the functions', () => {
  it(`answers ${REQUESTS} generated bad requests with no 5xx, an error_code on every 4xx, and no change`, async () => {
    const untrusted = stack.variant({ trustForwardedHeaders: false })
    let tried = 0
    let fiveXx = 0
    let refused = 0
    let withoutErrorCode = 0
    let changedByRefused = 0
    const byRoute: Record<string, number> = {}
    const byStatus: Record<string, number> = {}
    let baseline = await checksum()
    const started = Date.now()

    try {
      await fc.assert(
        fc.asyncProperty(badRequests({ userTokens: USER_TOKENS }), async (request) => {
          const app = request.trusted ? stack.app : untrusted.app
          const response = await app.request(request.url, {
            method: request.method,
            headers: request.headers,
            body: request.body,
          })
          const text = await response.text()
          tried += 1
          byRoute[request.route] = (byRoute[request.route] ?? 0) + 1
          byStatus[response.status] = (byStatus[response.status] ?? 0) + 1
          const what = `${request.method} ${request.url} → ${response.status} ${text.slice(0, 300)}`
          if (response.status >= 500) fiveXx += 1
          expect(response.status, what).toBeLessThan(500)
          if (response.status < 400) {
            baseline = await checksum()
            return
          }
          refused += 1
          secrets.output(`${response.status} body`, text)
          if (request.method !== 'HEAD') {
            const code = errorCodeOf(text)
            if (code === undefined) withoutErrorCode += 1
            expect(code, what).toMatch(/^[A-Z][A-Z_]+$/)
          }
          const after = await checksum()
          if (after !== baseline) changedByRefused += 1
          expect(after, `${what} changed the data`).toBe(baseline)
        }),
        { numRuns: REQUESTS, endOnFailure: true },
      )
    } finally {
      recordFigures('bad-input', {
        tried,
        fiveXx,
        refused,
        refusedWithoutErrorCode: withoutErrorCode,
        changedByRefused,
        byRoute,
        byStatus,
        seconds: Math.round((Date.now() - started) / 1000),
      })
    }
    expect(tried).toBeGreaterThanOrEqual(REQUESTS)
    expect(Object.keys(byRoute).sort()).toEqual(ROUTES.map((r) => r.name).sort())
  }, 600_000)
})
