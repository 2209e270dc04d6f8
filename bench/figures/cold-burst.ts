import { spawnNode } from '../child-process.js'
import { load } from '../load.js'
import { peakResidentMb } from '../memory.js'
import type { FigureReport } from '../report.js'
import { CLIENT_TOKEN, ROLES } from '../stack.js'
import type { BenchWorkspace } from '../workspace.js'
import type { StackFigureContext } from './context.js'

/** The burst: this many requests at once, each on its own connection. */
export const COLD_REQUESTS = 1_000
/**
 * The broker's first credential call is held this long, so that the whole burst arrives while
 * the broker has no credential yet (opening 1000 connections takes a few hundred ms here).
 */
const FIRST_FETCH_HOLD_MS = 2_000

interface ColdBurstOptions {
  brokerEntry: string
  /** Broker environment: workspace, role, Postgres, port and client token. */
  brokerEnv: Record<string, string>
  brokerUrl: string
  token: string
  workspace: BenchWorkspace
}

export interface ColdBurst {
  /** Credential calls the workspace received from this broker, for the whole burst. */
  upstreamCalls: number
  requests: number
  ok: number
  /** Requests sent before the broker's first credential existed. */
  sentCold: number
  brokerPeakRssMb: number
}

/**
 * A freshly started broker whose first fetch is still running receives 1000 concurrent requests:
 * they must all wait for that one upstream call, not make their own.
 */
async function measureColdBurst(options: ColdBurstOptions): Promise<ColdBurst> {
  const routes = ['databaseCredentials', 'postgresCredentials'] as const
  const { workspace } = options.workspace
  const calls = () => routes.reduce((n, route) => n + workspace.calls[route], 0)
  const before = calls()
  const mintsBefore = options.workspace.mints.length
  workspace.script('databaseCredentials', { delayMs: FIRST_FETCH_HOLD_MS })
  const broker = spawnNode(options.brokerEntry, options.brokerEnv)
  try {
    await broker.waitFor(/broker listening/)
    const { result, peakMb } = await peakResidentMb(broker.pid, () =>
      load({
        url: `${options.brokerUrl}/v1/credentials`,
        connections: COLD_REQUESTS,
        amount: COLD_REQUESTS,
        headers: { authorization: `Bearer ${options.token}` },
        recordResponses: true,
      }),
    )
    const firstMint = options.workspace.mints[mintsBefore]?.at ?? Number.POSITIVE_INFINITY
    return {
      upstreamCalls: calls() - before,
      requests: COLD_REQUESTS,
      ok: result.ok,
      sentCold: result.responses.filter((r) => r.sentAt < firstMint).length,
      brokerPeakRssMb: peakMb,
    }
  } finally {
    workspace.unscript('databaseCredentials')
    await broker.stop()
  }
}

/** The cold-burst figure: a broker of its own role on the steady workspace. */
export async function runColdBurst({ progress, stack }: StackFigureContext): Promise<ColdBurst> {
  progress(
    `cold burst: ${COLD_REQUESTS} concurrent requests to a broker fetching its first credential`,
  )
  const cold = await stack.brokerEnv(stack.steadyWorkspace.brokerEnv(ROLES.cold))
  const figure = await measureColdBurst({
    brokerEntry: stack.entries.broker,
    brokerEnv: cold.env,
    brokerUrl: cold.url,
    token: CLIENT_TOKEN,
    workspace: stack.steadyWorkspace,
  })
  progress(`  ${figure.upstreamCalls} upstream call(s), ${figure.ok} answered 200`)
  return figure
}

/** `cold_burst_upstream_calls`, with how many were answered and sent cold. */
export function coldBurstReport(cold: ColdBurst): FigureReport {
  return {
    values: { cold_burst_upstream_calls: cold.upstreamCalls },
    notes: {
      cold_burst_upstream_calls: `${cold.ok} × 200, ${cold.sentCold} sent before the first token`,
    },
    details: { cold_burst: cold },
  }
}
