import { listen } from '../../shared/process/http-server.js'

/**
 * Serves `fetch` on loopback at `PORT` with the stack the broker and functions use
 * (@hono/node-server behind shared/process/http-server.ts), prints `listening <url>` for the bench, and
 * closes on SIGTERM.
 */
export async function serveBench(
  fetch: (request: Request) => Response | Promise<Response>,
  onClose: () => Promise<unknown> = async () => {},
): Promise<void> {
  const server = await listen(fetch, {
    kind: 'tcp',
    host: '127.0.0.1',
    port: Number(process.env.PORT ?? 0),
  })
  console.log(`listening ${server.url}`)
  const stop = async () => {
    await server.close()
    await onClose()
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop())
  process.once('SIGINT', () => void stop())
}

/** A setting the bench must pass; the servers run only under the bench. */
export function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}
