// Prints the npm packages that importing one entry loads: `node loaded-packages.mjs <entry>`.
import { once } from 'node:events'
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'

const { port1, port2 } = new MessageChannel()
const hooks = `
const loaded = new Set()
export function initialize({ port }) {
  port.on('message', () => port.postMessage([...loaded]))
  port.unref()
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url)
  if (match) loaded.add(match[1])
  return result
}`
register(`data:text/javascript,${encodeURIComponent(hooks)}`, {
  data: { port: port2 },
  transferList: [port2],
})
await import(process.argv[2])
port1.postMessage('list')
const [loaded] = await once(port1, 'message')
console.log(
  loaded
    .filter((name) => name !== 'lakebase-broker')
    .sort()
    .join(' '),
)
port1.close()
