/**
 * Run by test/request-path.test.ts in a process of its own (`node --import tsx`, so modules load
 * as Node loads them, with no test runner's wrappers): the project's files with a function that
 * ran while one request was answered, after a warm-up, by V8's precise coverage. Reads the
 * database from PG* variables; prints `{ "brokerHit": [...], "preferenceRead": [...] }`.
 */
import { Session } from 'node:inspector/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startBroker } from '../../broker/index.js'
import { resolveFunctionsConfig } from '../../cli/functions-config.js'
import { serveFunctions } from '../../cli/serve-functions.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { createLogger } from '../../shared/process/logger.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const OWN = /^(broker|shared|functions|cli)\//
const TOKEN = 'request-path-probe-client-token-5b1e'
const WARM_UP = 5

const session = new Session()
session.connect()
await session.post('Profiler.enable')
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false })

/** The project's files with a function that ran during `request`, once warm. */
async function filesThrough(request: () => Promise<Response>): Promise<string[]> {
  for (let i = 0; i < WARM_UP; i++) await (await request()).text()
  await session.post('Profiler.takePreciseCoverage')
  const response = await request()
  await response.text()
  if (response.status !== 200) throw new Error(`the measured request answered ${response.status}`)
  const { result } = await session.post('Profiler.takePreciseCoverage')
  const files = new Set<string>()
  for (const script of result) {
    if (!script.url.startsWith('file://')) continue
    const path = relative(ROOT, fileURLToPath(script.url))
    if (OWN.test(path) && script.functions.some((f) => (f.ranges[0]?.count ?? 0) > 0)) {
      files.add(path)
    }
  }
  return [...files].sort()
}

const logger = createLogger({ name: 'probe', level: 'silent' })
const broker = await startBroker({
  env: { ...process.env, LAKEBASE_PROVIDER: 'static', BROKER_PORT: '0', BROKER_TOKEN: TOKEN },
  logger,
})
const brokerHit = await filesThrough(() =>
  fetch(`${broker.url}/v1/credentials`, { headers: { authorization: `Bearer ${TOKEN}` } }),
)

const functions = await serveFunctions({
  credentials: connectBroker({ url: broker.url, token: TOKEN }),
  logger,
  config: { ...resolveFunctionsConfig({ PREFERENCE_KEYS: 'theme' }), host: '127.0.0.1', port: 0 },
})
const url = `${functions.url}/api/preferences/theme`
const put = await fetch(url, {
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ preference_value: { mode: 'dark' } }),
})
if (put.status >= 300) throw new Error(`the preference write answered ${put.status}`)
const preferenceRead = await filesThrough(() => fetch(url))

await functions.close()
await broker.stop()
session.disconnect()
process.stdout.write(`${JSON.stringify({ brokerHit, preferenceRead })}\n`)
