import { Hono } from 'hono'
import { required, serveBench } from './serve.js'

/**
 * The ceiling for the broker: a Hono route answering constant JSON — the very bytes the broker
 * serves (`BENCH_BODY`) — on the same server stack, with no authentication, guard or cache.
 */
const body: unknown = JSON.parse(required('BENCH_BODY'))
const app = new Hono()
app.get('/v1/credentials', (c) => c.json(body))
await serveBench(app.fetch)
