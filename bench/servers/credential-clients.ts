import { brokerCredentials } from '../../shared/client/index.js'
import { required } from './serve.js'

/**
 * `BENCH_CLIENTS` independent `brokerCredentials` instances in one process (as many services or
 * workers would hold), each with its own memo, asking the broker at the same instants:
 *
 * 1. at `BENCH_FIRST_AT` (epoch ms) every instance calls `get()` (a cold broker: its first fetch);
 * 2. at `BENCH_REFUSED_AT` every instance calls `forget()` — Postgres refused the credential —
 *    and `get()` again, so that every one reports the same refused version to the broker.
 *
 * Prints one `clients {json}` line with how many got a credential each time and the versions seen,
 * then exits. The bench counts the workspace's credential calls: a broker that deduplicates makes
 * one per refresh however many instances ask.
 */
const count = Number(required('BENCH_CLIENTS'))
const firstAt = Number(required('BENCH_FIRST_AT'))
const refusedAt = Number(required('BENCH_REFUSED_AT'))
/**
 * Longer than the client's default 2 s: the bench holds the broker's credential calls for a few
 * seconds (so that every instance asks while one runs), and counts calls, not waiting time.
 */
const TIMEOUT_MS = 15_000
const clients = Array.from({ length: count }, () =>
  brokerCredentials({ env: process.env, timeoutMs: TIMEOUT_MS }),
)

const at = (instant: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, instant - Date.now())))

async function everyone(before?: (client: (typeof clients)[number]) => void) {
  const askedAt = Date.now()
  const results = await Promise.allSettled(
    clients.map((client) => {
      before?.(client)
      return client.get()
    }),
  )
  const versions = new Set<string>()
  const errors: Record<string, number> = {}
  let ok = 0
  for (const result of results) {
    if (result.status === 'fulfilled') {
      ok += 1
      versions.add(result.value.version)
    } else {
      // An LakebaseError's code and message: never a credential.
      const { error_code: code, message } = result.reason as {
        error_code?: string
        message?: string
      }
      const key = `${code ?? 'error'}: ${message ?? String(result.reason)}`
      errors[key] = (errors[key] ?? 0) + 1
    }
  }
  return { askedAt, ok, versions: [...versions], errors }
}

await at(firstAt)
const first = await everyone()
await at(refusedAt)
const refused = await everyone((client) => client.forget())
console.log(`clients ${JSON.stringify({ count, first, refused })}`)
