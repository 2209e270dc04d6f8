import { freePort } from '../../test/support/free-port.js'
import { spawnNode } from '../child-process.js'
import { listeningUrl, untilReady } from '../server-probes.js'
import { type BenchStack, ROLES, ROTATION_LIFETIME_S } from '../stack.js'
import type { RotationDesign } from './rotation.js'

/** The broker's minimum TTL must be well below the shortened lifetime (its default is 15 s). */
export const ROTATION_BROKER_MIN_TTL_S = 2
/** The alternatives recycle their pools' connections once per rotation period (half a lifetime). */
export const ALTERNATIVE_MAX_LIFETIME_S = ROTATION_LIFETIME_S / 2

/** pino's level of `warn`: lines at it or above are the warnings and errors. */
const PINO_WARN_LEVEL = 40

/** Warning and error log lines of a server, counted by message, failure kind and code. */
export type LogWarnings = Record<string, number>

/** The rotation figure's designs, serving, and what their servers logged. */
export interface RotationDesigns {
  designs: Record<string, RotationDesign>
  /** Why `@databricks/lakebase` is not among the designs, when it is not. */
  sdkError?: string
  /** What went wrong inside each design's server so far (pino JSON, secrets redacted). */
  logWarnings(): Record<string, LogWarnings>
}

/**
 * Starts every design on the rotation workspace's short-lived tokens: the functions asking a
 * broker of their own (also measured with every Postgres connection of its role dropped at each
 * rotation), a fresh token per connection (the original app), and `@databricks/lakebase`, left
 * out with the reason when it does not serve on this Node.
 */
export async function startRotationDesigns(stack: BenchStack): Promise<RotationDesigns> {
  const { entries, started, rotationWorkspace, admin } = stack
  const rotating = await stack.brokerEnv({
    ...rotationWorkspace.brokerEnv(ROLES.broker),
    BROKER_MIN_TTL_S: String(ROTATION_BROKER_MIN_TTL_S),
  })
  const rotationBroker = started('rotation-broker', spawnNode(entries.broker, rotating.env))
  await rotationBroker.waitFor(/broker listening/)
  await untilReady(rotating.url)
  const rotationFunctions = started(
    'rotation-functions',
    spawnNode(entries.functions, await stack.functionsEnv(rotating.url)),
  )
  const alternativeEnv = async (role: string) => ({
    ...stack.postgresEnv,
    ...rotationWorkspace.brokerEnv(role),
    LAKEBASE_ENDPOINT: rotationWorkspace.workspace.endpointName,
    DATABRICKS_CONFIG_FILE: '/nonexistent',
    PGUSER: role,
    PORT: String(await freePort()),
    BENCH_MAX_LIFETIME_S: String(ALTERNATIVE_MAX_LIFETIME_S),
  })
  const perConnection = started(
    'per-connection',
    spawnNode(entries.perConnection, await alternativeEnv(ROLES.perConnection)),
  )
  const lakebaseSdk = started(
    'lakebase-sdk',
    spawnNode(entries.lakebaseSdk, await alternativeEnv(ROLES.lakebaseSdk)),
  )
  const terminate = () =>
    admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${ROLES.broker}`.catch(
      () => {},
    )
  const designs: Record<string, RotationDesign> = {
    broker: { url: await listeningUrl(rotationFunctions), role: ROLES.broker },
    brokerDropped: {
      url: await listeningUrl(rotationFunctions),
      role: ROLES.broker,
      around() {
        stack.onRotationMint((record) => {
          if (record.user === ROLES.broker) void terminate()
        })
        return {
          stop() {
            stack.onRotationMint(() => {})
          },
        }
      },
    },
    perConnection: { url: await listeningUrl(perConnection), role: ROLES.perConnection },
  }
  let sdkError: string | undefined
  try {
    designs.lakebaseSdk = { url: await listeningUrl(lakebaseSdk), role: ROLES.lakebaseSdk }
    const probe = await fetch(`${designs.lakebaseSdk.url}/api/preferences`, {
      headers: { 'x-forwarded-email': 'probe@example.com' },
    })
    if (probe.status !== 200)
      throw new Error(`GET /api/preferences answered ${probe.status}: ${await probe.text()}`)
  } catch (err) {
    sdkError = `@databricks/lakebase did not serve on Node ${process.version}: ${(err as Error).message}`
    delete designs.lakebaseSdk
  }
  return {
    designs,
    sdkError,
    logWarnings: () => ({
      broker: logSummary(rotationFunctions.output()),
      perConnection: logSummary(perConnection.output()),
      lakebaseSdk: logSummary(lakebaseSdk.output()),
    }),
  }
}

/**
 * What went wrong inside a server during the rotation runs: its warning and error log lines
 * (pino JSON, secrets redacted) counted by message, failure kind and code.
 */
function logSummary(output: string): LogWarnings {
  const counts: LogWarnings = {}
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line) as {
        level?: number
        msg?: string
        failure?: string
        code?: string
        retry?: boolean
        err?: { code?: string; error_code?: string }
      }
      if ((entry.level ?? 0) < PINO_WARN_LEVEL) continue
      const key = [
        entry.msg,
        entry.failure,
        entry.code ?? entry.err?.error_code ?? entry.err?.code,
        entry.retry === undefined ? undefined : `retry=${entry.retry}`,
      ]
        .filter(Boolean)
        .join(' ')
      counts[key] = (counts[key] ?? 0) + 1
    } catch {
      // Not a log line.
    }
  }
  return counts
}
