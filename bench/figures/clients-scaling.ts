import { spawnNode } from '../child-process.js'
import type { FigureReport } from '../report.js'
import { CLIENT_TOKEN, ROLES } from '../stack.js'
import type { BenchWorkspace } from '../workspace.js'
import type { StackFigureContext } from './context.js'

/** The clients: this many `brokerCredentials` instances… */
export const CLIENT_INSTANCES = 1_000
/** …spread over this many processes. */
export const CLIENT_PROCESSES = 4
/**
 * The clients ask this long after they were started, time enough for four Node processes to load
 * on two busy cores; each credential call the broker makes meanwhile is held until after that.
 */
const ASK_AFTER_MS = 4_000
/** The refused round comes this long after the first, once every client holds the credential. */
const REFUSED_AFTER_MS = 3_000
/** Each credential call is held this long past the instant the clients ask, so all of them wait on it. */
const HOLD_PAST_ASK_MS = 1_500

/** The cold start's calls are counted this long before the refused round begins. */
const SNAPSHOT_BEFORE_MS = 200

interface ClientsScalingOptions {
  clientsEntry: string
  brokerEntry: string
  /** Broker environment: workspace, role, Postgres, port and client token. */
  brokerEnv: Record<string, string>
  brokerUrl: string
  token: string
  workspace: BenchWorkspace
}

export interface ClientsScaling {
  /** Workspace credential calls ÷ refreshes (two: the cold start, then the refusal of it). */
  callsPerRefresh: number
  /** Calls made for the cold start, and for the credential every client reported refused. */
  coldCalls: number
  refusedCalls: number
  /** Instances that got a credential each time, and the distinct versions they got. */
  coldOk: number
  refusedOk: number
  coldVersions: number
  refusedVersions: number
  /** Whether the refused round's credential is a new one: the refusals did force a refresh. */
  refreshed: boolean
  /**
   * Whether every process asked before the credential it waited for existed (the cold token,
   * then the one the refusals forced): else some instances were answered from a held credential
   * and did not test the single flight.
   */
  askedBeforeTokens: boolean
  /** The same per round, for the spread. */
  perRefresh: number[]
  /** Failed `get()`s of every process, by round, code and message. */
  errors: { cold: Record<string, number>; refused: Record<string, number> }
}

interface Round {
  /** When the process's instances asked (epoch ms). */
  askedAt: number
  ok: number
  versions: string[]
  /** Failed `get()`s by error code and message. */
  errors: Record<string, number>
}

interface ClientReport {
  count: number
  first: Round
  refused: Round
}

/**
 * 1000 `brokerCredentials` instances in 4 processes ask a freshly started broker for the same
 * target at once (its first credential call held by the workspace, so every one arrives while it
 * runs), then all report that credential refused at once (`forget()`, then `get()`: a
 * `POST …/refresh` each, the credential call held again). A broker that deduplicates makes one
 * workspace call for each of the two refreshes.
 */
async function measureClientsScaling(options: ClientsScalingOptions): Promise<ClientsScaling> {
  const routes = ['databaseCredentials', 'postgresCredentials'] as const
  const { workspace } = options.workspace
  const calls = () => routes.reduce((n, route) => n + workspace.calls[route], 0)
  const before = calls()
  const mintsBefore = options.workspace.mints.length
  const firstAt = Date.now() + ASK_AFTER_MS
  const refusedAt = firstAt + REFUSED_AFTER_MS
  // Two held calls: the first fetch (from when the broker starts), and the refresh the refusals
  // force. A third call, if the broker made one, would not be held, and would still be counted.
  workspace.script(
    'databaseCredentials',
    { delayMs: ASK_AFTER_MS + HOLD_PAST_ASK_MS },
    { delayMs: HOLD_PAST_ASK_MS },
  )
  const broker = spawnNode(options.brokerEntry, {
    ...options.brokerEnv,
    // Every refusal may force a refresh: the bench asks whether a thousand of them make one.
    BROKER_FORCED_REFRESH_MIN_S: '0',
  })
  const perProcess = CLIENT_INSTANCES / CLIENT_PROCESSES
  const clients = Array.from({ length: CLIENT_PROCESSES }, () =>
    spawnNode(options.clientsEntry, {
      LAKEBASE_BROKER_URL: options.brokerUrl,
      LAKEBASE_BROKER_TOKEN: options.token,
      BENCH_CLIENTS: String(perProcess),
      BENCH_FIRST_AT: String(firstAt),
      BENCH_REFUSED_AT: String(refusedAt),
    }),
  )
  try {
    // The calls made before the refused round are the cold start's.
    let coldCalls = Number.NaN
    const snapshot = setTimeout(
      () => {
        coldCalls = calls() - before
      },
      refusedAt - Date.now() - SNAPSHOT_BEFORE_MS,
    )
    await broker.waitFor(/broker listening/)
    const reports = await Promise.all(
      clients.map(async (client) => {
        const match = await client.waitFor(/^clients (\{.*\})$/m, ASK_AFTER_MS + 30_000)
        return JSON.parse(match[1] as string) as ClientReport
      }),
    )
    clearTimeout(snapshot)
    const total = calls() - before
    const refusedCalls = total - coldCalls
    const versions = (pick: (r: ClientReport) => string[]) => new Set(reports.flatMap(pick)).size
    return {
      callsPerRefresh: total / 2,
      coldCalls,
      refusedCalls,
      coldOk: reports.reduce((n, r) => n + r.first.ok, 0),
      refusedOk: reports.reduce((n, r) => n + r.refused.ok, 0),
      coldVersions: versions((r) => r.first.versions),
      refusedVersions: versions((r) => r.refused.versions),
      askedBeforeTokens: askedBefore(reports, options.workspace.mints.slice(mintsBefore)),
      refreshed: reports.every((r) =>
        r.refused.versions.every((v) => !r.first.versions.includes(v)),
      ),
      perRefresh: [coldCalls, refusedCalls],
      errors: {
        cold: mergeCounts(reports.map((r) => r.first.errors)),
        refused: mergeCounts(reports.map((r) => r.refused.errors)),
      },
    }
  } finally {
    workspace.unscript('databaseCredentials')
    await Promise.all([broker.stop(), ...clients.map((client) => client.stop())])
  }
}

function mergeCounts(counts: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {}
  for (const count of counts) {
    for (const [key, n] of Object.entries(count)) merged[key] = (merged[key] ?? 0) + n
  }
  return merged
}

/** Every process asked before the first token (cold) and before the second (refused round). */
function askedBefore(reports: readonly ClientReport[], mints: readonly { at: number }[]): boolean {
  const [cold, refused] = mints
  if (!cold || !refused) return false
  return reports.every((r) => r.first.askedAt < cold.at && r.refused.askedAt < refused.at)
}

/** The clients figure: a broker of its own role on the steady workspace, and the client processes. */
export async function runClientsScaling({
  progress,
  stack,
}: StackFigureContext): Promise<ClientsScaling> {
  progress(
    `${CLIENT_INSTANCES} brokerCredentials instances in ${CLIENT_PROCESSES} processes asking at once, twice`,
  )
  const clients = await stack.brokerEnv(stack.steadyWorkspace.brokerEnv(ROLES.clients))
  const figure = await measureClientsScaling({
    clientsEntry: stack.entries.credentialClients,
    brokerEntry: stack.entries.broker,
    brokerEnv: clients.env,
    brokerUrl: clients.url,
    token: CLIENT_TOKEN,
    workspace: stack.steadyWorkspace,
  })
  progress(
    `  ${figure.coldCalls} + ${figure.refusedCalls} upstream calls; ${figure.coldOk} and ${figure.refusedOk} got a credential`,
  )
  return figure
}

/**
 * `clients_scaling`. Its two rounds are two different refreshes, the cold start and the refusal,
 * which the note names one by one: the table gives them no range.
 */
export function clientsScalingReport(clients: ClientsScaling): FigureReport {
  const late = clients.askedBeforeTokens ? '' : '; some asked after the token existed'
  return {
    values: { clients_scaling: clients.callsPerRefresh },
    rounds: { clients_scaling: clients.perRefresh },
    unranged: ['clients_scaling'],
    notes: {
      clients_scaling: `${clients.coldCalls} call(s) cold, ${clients.refusedCalls} for the refused one; ${clients.coldOk} and ${clients.refusedOk} of ${CLIENT_INSTANCES} got one${late}`,
    },
    details: { clients },
  }
}
