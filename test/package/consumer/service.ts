// A user's own service: a Hono app on the package's public entries only.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { brokerCredentials, type Credential, LakebaseOptionError } from 'lakebase-broker'
import { startBroker } from 'lakebase-broker/broker'
import { type LakebaseEnv, lakebase } from 'lakebase-broker/hono'
import { createPool } from 'lakebase-broker/pg'

const broker = await startBroker({ env: { ...process.env, LAKEBASE_PROVIDER: 'static' } })
const credentials = brokerCredentials({ url: broker.url, token: broker.token })
const pool = createPool({ credentials, max: 4 })

let optionError = ''
try {
  createPool({ credentials, max: -1 })
} catch (err) {
  if (err instanceof LakebaseOptionError) optionError = err.option
}

const app = new Hono<LakebaseEnv>()
app.use('/api/*', lakebase({ credentials }))
app.get('/api/sql', async (c) => {
  const [row] = await c.var.sql<{ who: string }[]>`select current_user as who`
  return c.json({ who: row?.who, user: c.var.user })
})
app.get('/api/pg', async (c) => {
  const result = await pool.query<{ n: number }>('select $1::int + 1 as n', [41])
  return c.json({ n: result.rows[0]?.n })
})
app.get('/runtime', (c) => c.json({ node: process.version }))
app.get('/credential', async (c) => {
  const credential: Credential = await credentials.get()
  return c.json({ user: credential.user, source: credential.source, optionError })
})

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(`listening http://127.0.0.1:${info.port}`)
})
process.on('SIGTERM', async () => {
  server.close()
  await pool.end()
  await broker.stop()
  process.exit(0)
})
