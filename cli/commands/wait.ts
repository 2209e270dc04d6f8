import { once } from 'node:events'
import { get, type IncomingMessage } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { brokerClientSettings } from '../../shared/process/common-settings.js'
import { ConfigError } from '../../shared/process/config-error.js'
import { type Command, EXIT_OK } from '../../shared/process/run-main.js'

/** How long `wait` waits by default: a cold broker fetching from a workspace takes seconds. */
const DEFAULT_WAIT_TIMEOUT_S = 60
/** Between two looks at `/readyz`: it answers from memory, so asking often costs nothing. */
const POLL_INTERVAL_MS = 250
/** One look at `/readyz` that takes longer than this counts as "no answer". */
const READYZ_TIMEOUT_MS = 2_000

const settings = { LAKEBASE_BROKER_URL: brokerClientSettings.LAKEBASE_BROKER_URL }

const timeoutSchema = z.coerce
  .number({ error: 'must be a number of seconds' })
  .positive('must be more than 0 seconds')

const readinessSchema = z.object({
  draining: z.boolean().optional(),
  targets: z
    .array(
      z.object({
        target: z.string(),
        valid: z.boolean(),
        last_error: z.object({ error_class: z.string(), message: z.string() }).nullable(),
      }),
    )
    .default([]),
})

/** `lakebase-broker wait [--timeout S]`: exits 0 once the broker is ready. */
export const command: Command<typeof settings> = {
  name: 'wait',
  help: `Usage: $0 [--help] [--timeout S]

Waits until the broker at LAKEBASE_BROKER_URL is ready (GET /readyz answers 200: every target
holds a valid credential), then exits 0. After --timeout seconds (${DEFAULT_WAIT_TIMEOUT_S}) it exits 1 with
the broker's last error. For scripts: lakebase-broker wait && lakebase-broker migrate`,
  settings,
  options: { timeout: { type: 'string' } },
  logLevel: 'warn',
  async start({ settings: s, args, signal, out }) {
    const timeout = timeoutSchema.safeParse(args.values.timeout ?? DEFAULT_WAIT_TIMEOUT_S)
    if (!timeout.success) {
      throw new ConfigError(`--timeout ${timeout.error.issues[0]?.message ?? 'is wrong'}`)
    }
    const deadline = Date.now() + timeout.data * 1000
    let last = 'no answer yet'
    for (;;) {
      const answer = await readyz(s.LAKEBASE_BROKER_URL)
      if (answer.ready) {
        out(`wait: the broker at ${s.LAKEBASE_BROKER_URL} is ready`)
        return EXIT_OK
      }
      last = answer.reason
      if (Date.now() + POLL_INTERVAL_MS > deadline) break
      await sleep(POLL_INTERVAL_MS, undefined, { signal })
    }
    throw new Error(`the broker was not ready after ${timeout.data} s: ${last}`)
  },
}

/** One look at `/readyz`: ready, or why not in the broker's words. */
async function readyz(url: string): Promise<{ ready: true } | { ready: false; reason: string }> {
  let answer: { status: number; body: string }
  try {
    answer = await readText(url, '/readyz')
  } catch (err) {
    return { ready: false, reason: `unreachable (${networkCode(err)})` }
  }
  if (answer.status === 200) return { ready: true }
  let parsed: z.infer<typeof readinessSchema> | undefined
  try {
    parsed = readinessSchema.parse(JSON.parse(answer.body))
  } catch {
    return { ready: false, reason: `/readyz answered ${answer.status}` }
  }
  if (parsed.draining) return { ready: false, reason: 'the broker is shutting down' }
  const failing = parsed.targets.filter((t) => !t.valid)
  const reasons = failing.map((t) =>
    t.last_error
      ? `${t.target}: ${t.last_error.error_class}: ${t.last_error.message}`
      : `${t.target}: no credential yet`,
  )
  return { ready: false, reason: reasons.join('; ') || `/readyz answered ${answer.status}` }
}

/** A GET over TCP (`http(s)://…`) or a unix socket (`unix:/path`), with a time limit. */
async function readText(url: string, path: string): Promise<{ status: number; body: string }> {
  if (!url.startsWith('unix:')) {
    const response = await fetch(`${url.replace(/\/+$/, '')}${path}`, {
      signal: AbortSignal.timeout(READYZ_TIMEOUT_MS),
    })
    return { status: response.status, body: await response.text() }
  }
  const req = get({
    socketPath: url.slice('unix:'.length),
    path,
    headers: { host: 'localhost' },
    timeout: READYZ_TIMEOUT_MS,
  })
  req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
  const [res] = (await once(req, 'response')) as [IncomingMessage]
  let body = ''
  for await (const chunk of res.setEncoding('utf8')) body += chunk
  return { status: res.statusCode ?? 0, body }
}

/** `ECONNREFUSED` and the like; fetch puts it on the cause. */
function networkCode(err: unknown): string {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string') return code
  }
  return err instanceof Error ? err.message : String(err)
}
