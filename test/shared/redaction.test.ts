import { context, trace } from '@opentelemetry/api'
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { sql as drizzleSql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import fc from 'fast-check'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectBroker } from '../../shared/client/broker-client.js'
import { SPANS } from '../../shared/client/telemetry.js'
import { createPool } from '../../shared/pg/create-pool.js'
import { createSql } from '../../shared/postgres/create-sql.js'
import { errorHandler } from '../../shared/process/error-handler.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN } from '../support/broker.js'
import { captureLogs } from '../support/capture-logs.js'
import { createTestDatabase } from '../support/postgres.js'
import { columns, LITERAL_MARK } from '../support/sql-literals.js'

/** A parameter value: never in the text, so never in a template either. */
const PARAMETER = `${LITERAL_MARK}-parameter`

const spans = new InMemorySpanExporter()
const cleanup: (() => Promise<unknown>)[] = []

beforeAll(() => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  )
  context.setGlobalContextManager(new AsyncHooksContextManager().enable())
})

afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
  trace.disable()
  context.disable()
})

/** createSql and createPool on a fresh real database, both logging to one captured logger. */
async function stack() {
  const db = await createTestDatabase('redact')
  cleanup.push(() => db.drop())
  const { broker } = await startTestBroker(staticBrokerEnv(db))
  cleanup.push(() => broker.close())
  const logs = captureLogs('redaction')
  const credentials = connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN })
  const sql = createSql({ credentials, env: {}, logger: logs.logger, max: 2 })
  cleanup.push(() => sql.end({ timeout: 1 }))
  const pool = createPool({ credentials, env: {}, logger: logs.logger, max: 2 })
  cleanup.push(() => pool.end())
  // The functions' way: drizzle over createSql, and the one error handler logging what it throws.
  const orm = drizzle(sql)
  const app = new Hono().post('/run', async (c) =>
    c.json(await orm.execute(drizzleSql.raw(await c.req.text()))),
  )
  app.onError(errorHandler(logs.logger))
  return { sql, pool, app, logs }
}

describe('redaction of statements in logs and spans', () => {
  it('lets no literal value of a generated statement into a log line or a span, in any form', async () => {
    const { sql, pool, app, logs } = await stack()
    await fc.assert(
      fc.asyncProperty(columns, async (generated) => {
        spans.reset()
        const logged = logs.lines.length
        const list = generated.columns
        const expected = Object.fromEntries(
          generated.names.map((name, i) => [name, generated.literals[i]?.value]),
        )
        const select = `select $1::text as p, ${list.join(', ')}`

        // Postgres reads each literal as the value generated: the statements are what they seem.
        const [row] = await sql.unsafe(select, [PARAMETER])
        expect(row).toEqual({ p: PARAMETER, ...expected })
        const { rows } = await pool.query(select, [PARAMETER])
        expect(rows).toEqual([{ p: PARAMETER, ...expected }])
        // A failure in the value class: createSql logs the statement's template.
        await expect(
          sql.unsafe(`select $1::text as p, ${list.join(', ')}, 1/0 as boom`, [PARAMETER]),
        ).rejects.toMatchObject({ code: '22012' })
        // A failure nobody maps: the error handler logs drizzle's error by its template.
        const failed = await app.request('/run', {
          method: 'POST',
          body: `select ${list.join(', ')}, no_such_function_7c() as boom`,
        })
        expect(failed.status).toBe(500)

        // Each statement was traced by its text, through both drivers, and both failures logged it.
        const traced = spans.getFinishedSpans().filter((s) => s.name === SPANS.query)
        const texts = traced.map((s) => String(s.attributes['db.query.text']))
        expect(texts).toHaveLength(4)
        expect(texts.every((t) => t.startsWith('select '))).toBe(true)
        const lines = logs.lines.slice(logged).join('')
        expect(lines.match(/database statement failed/g)).toHaveLength(1)
        expect(lines.match(/Failed query: select /g)).toHaveLength(1)

        for (const span of traced) {
          expect(JSON.stringify([span.attributes, span.events])).not.toContain(LITERAL_MARK)
        }
        expect(lines).not.toContain(LITERAL_MARK)
      }),
      { numRuns: 60 },
    )
  })
})
