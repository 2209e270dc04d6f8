import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StaticProvider } from '../../broker/providers/static.js'
import { buildFunctionsApp } from '../../functions/app.js'
import { FunctionsDatabase } from '../../functions/db/database.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { freePort } from '../support/free-port.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'
import { createTestDatabase } from '../support/postgres.js'
import { waitFor } from '../support/wait-for.js'

let stack: FunctionsStack
beforeAll(async () => {
  stack = await startFunctionsStack()
})
afterAll(async () => {
  await stack?.close()
})

describe('/api/health', () => {
  it('answers ok', async () => {
    const response = await stack.call('GET', '/api/health', { user: null })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })

  it('checks the database with a real query and shows the credential without its password', async () => {
    const response = await stack.call('GET', '/api/health/database', { user: null })
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toMatchObject({
      status: 'ok',
      credential: { source: 'static', user: 'postgres', stale: false },
      pool: { max: 5 },
    })
    expect(typeof body.latency_ms).toBe('number')
    expect((body.credential as { expires_in_s: number }).expires_in_s).toBeGreaterThan(3000)
    expect(JSON.stringify(body)).not.toContain('test-superuser-password')
  })
})

/** The functions app over `credentials`, as a process would build it. */
function functionsOver(credentials: ReturnType<typeof connectBroker>) {
  const { logger } = captureLogs()
  const database = new FunctionsDatabase({ credentials, logger })
  const app = buildFunctionsApp({
    database,
    credentials,
    logger,
    trustForwardedHeaders: false,
    devUser: 'dev-user@example.com',
    preferenceKeys: ['theme'],
  })
  return { app, database }
}

describe('/api/health/database while the broker serves a stale credential', () => {
  it('shows the upstream error, its kind and the fix beside the credential, which still works', async () => {
    const db = await createTestDatabase('fnstale')
    // The broker's clock starts at the real time: the client checks expiry against its own.
    const clock = new ManualClock(Date.now())
    let revoked = false
    const { broker } = await startTestBroker(staticBrokerEnv(db), {
      clock,
      providers: {
        async static(env) {
          const inner = new StaticProvider(env, clock)
          return {
            source: inner.source,
            describe: () => inner.describe(),
            async fetch(): Promise<ProviderCredential> {
              if (revoked) {
                throw new UpstreamError(
                  'forbidden',
                  'the workspace answered 403 PERMISSION_DENIED',
                  {
                    upstreamStatus: 403,
                    upstreamErrorCode: 'PERMISSION_DENIED',
                  },
                )
              }
              return inner.fetch()
            },
          }
        },
      },
    })
    const cache = broker.caches.get('default')
    await waitFor(() => cache?.status().valid, { what: 'the first credential' })
    revoked = true
    await clock.advance((cache?.status().refreshAt ?? 0) - clock.now())
    await waitFor(() => cache?.status().stale, { what: 'the refresh to fail' })
    // A process that starts now: its first credential is the stale one.
    const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
    const { app, database } = functionsOver(credentials)
    try {
      const response = await app.request('/api/health/database')
      expect(response.status).toBe(200)
      const body = (await response.json()) as { credential: Record<string, unknown> }
      expect(body.credential).toMatchObject({
        stale: true,
        upstream_error: {
          error_class: 'forbidden',
          kind: 'permanent',
          message: 'the workspace answered 403 PERMISSION_DENIED',
          fix: expect.stringMatching(/^the credential source refused this identity/),
        },
      })
    } finally {
      await database.close()
      await broker.close()
      await db.drop()
    }
  })
})

describe('the functions with no broker reachable', () => {
  it('answer 503 LAKEBASE_NOT_CONFIGURED with a suggestion, fast', async () => {
    const port = await freePort()
    const credentials = connectBroker({
      url: `http://127.0.0.1:${port}`,
      token: 'whatever-token',
    })
    const { app, database } = functionsOver(credentials)
    const response = await app.request('/api/preferences')
    expect(response.status).toBe(503)
    const body = (await response.json()) as {
      detail: { error_code: string; technical_details: { suggestion: string } }
    }
    expect(body.detail.error_code).toBe('LAKEBASE_NOT_CONFIGURED')
    expect(body.detail.technical_details.suggestion).toContain('LAKEBASE_BROKER_URL')
    const health = await app.request('/api/health/database')
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({
      status: 'unavailable',
      credential: null,
      error: { error_code: 'LAKEBASE_NOT_CONFIGURED' },
    })
    await database.close()
  })
})
