import { createServer } from 'node:http'
import { required } from './serve.js'

/**
 * The floor under the broker's memory: Node's own HTTP server answering the very bytes the broker
 * serves (`BENCH_BODY`) with no framework at all — what any server on this runtime holds under
 * the same load.
 */
const body = Buffer.from(required('BENCH_BODY'))
const headers = {
  'content-type': 'application/json',
  'content-length': String(body.length),
  'cache-control': 'no-store',
}
const server = createServer((_request, response) => {
  response.writeHead(200, headers)
  response.end(body)
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  console.log(`listening http://127.0.0.1:${address.port}`)
})
process.once('SIGTERM', () => server.close(() => process.exit(0)))
