import { randomUUID } from 'node:crypto'
import type postgres from 'postgres'

/** Sends one request to the functions (in process, or over HTTP) and returns the response. */
export type Send = (
  method: string,
  path: string,
  options: { user: string; body?: unknown },
) => Promise<Response>

/** One answer the load saw. */
export interface Answer {
  at: number
  method: string
  path: string
  status: number
  latencyMs: number
  /** The error body (for non-2xx answers). */
  body?: string
  retryAfter?: string | null
}

/**
 * A write answered 503 `DATABASE_UNAVAILABLE` because its connection was killed after it was sent:
 * it may have committed, so the database layer does not retry it, since a retry could change its
 * answer (issue 12.3). The client is told to retry after `retry_after`; its load counts it apart
 * from failures, bounded by the backends the test killed.
 */
export function isUnsureWrite(answer: Answer): boolean {
  if (answer.method === 'GET' || answer.status !== 503 || answer.body === undefined) return false
  try {
    const { detail } = JSON.parse(answer.body) as {
      detail?: { error_code?: string; retry_after?: number | null }
    }
    return detail?.error_code === 'DATABASE_UNAVAILABLE' && (detail.retry_after ?? 0) > 0
  } catch {
    return false
  }
}

/** What the load did: every answer, and every write the functions acknowledged. */
export interface LoadReport {
  answers: Answer[]
  /** `request_id`s of inference logs acknowledged with a 2xx. */
  acknowledgedLogs: string[]
  /** Per user: the highest preference value `n` acknowledged with a 2xx. */
  acknowledgedPreferences: Map<string, number>
  /** Per user: the highest `n` ever sent (acknowledged or not). */
  sentPreferences: Map<string, number>
  /** How many preference upserts were acknowledged with a 2xx. */
  acknowledgedPreferenceWrites: number
  /**
   * Writes whose answer says they had already happened when, as sent, they could not have: a
   * first upsert answered 200 (updated) instead of 201, a new request_id answered 200 (the
   * existing row) instead of 201. Each one is a retry that ran after its first attempt committed,
   * and answered differently from what that first attempt would have.
   */
  changedAnswers: string[]
}

export interface RunningLoad {
  /** Answers so far. */
  readonly answers: readonly Answer[]
  stop(): Promise<LoadReport>
}

/**
 * How long a load client pauses after a 503: the pace of its probing through an outage, shorter
 * than the server's Retry-After so that the outage is probed often.
 */
const PAUSE_AFTER_UNAVAILABLE_MS = 100

/**
 * Clients that each, in a loop, upsert a preference, write an inference log with a request id of
 * their own, and read both back, as fast as the functions answer, pausing
 * {@link PAUSE_AFTER_UNAVAILABLE_MS} after a 503.
 */
export function startLoad(send: Send, options: { clients: number }): RunningLoad {
  const answers: Answer[] = []
  const acknowledgedLogs: string[] = []
  const acknowledgedPreferences = new Map<string, number>()
  const sentPreferences = new Map<string, number>()
  let acknowledgedPreferenceWrites = 0
  const changedAnswers: string[] = []
  const run = `${randomUUID().slice(0, 8)}`
  let stopping = false

  const call = async (method: string, path: string, user: string, body?: unknown) => {
    const started = performance.now()
    const at = Date.now()
    let response: Response
    try {
      response = await send(method, path, { user, body })
    } catch (err) {
      answers.push({ at, method, path, status: 599, latencyMs: 0, body: String(err) })
      return 599
    }
    const text = await response.text()
    const answer: Answer = {
      at,
      method,
      path,
      status: response.status,
      latencyMs: performance.now() - started,
    }
    if (response.status >= 300) {
      answer.body = text
      answer.retryAfter = response.headers.get('retry-after')
    }
    answers.push(answer)
    return response.status
  }

  const client = async (n: number) => {
    const user = `load-${run}-${n}@example.com`
    for (let i = 1; !stopping; i++) {
      sentPreferences.set(user, i)
      const put = await call('PUT', '/api/preferences/theme', user, { preference_value: { n: i } })
      if (put < 300) {
        if (i === 1 && put !== 201) changedAnswers.push(`first upsert of ${user} answered ${put}`)
        acknowledgedPreferences.set(user, i)
        acknowledgedPreferenceWrites += 1
      }
      const requestId = `${run}-${n}-${i}`
      const post = await call('POST', '/api/inference-logs', user, {
        endpoint_name: 'chat',
        inputs: { i },
        status: 'SUCCESS',
        request_id: requestId,
      })
      if (post < 300) {
        if (post !== 201) changedAnswers.push(`new request_id ${requestId} answered ${post}`)
        acknowledgedLogs.push(requestId)
      }
      const read = await call('GET', '/api/inference-logs?limit=5', user)
      if ([put, post, read].some((s) => s === 503)) {
        await new Promise((resolve) => setTimeout(resolve, PAUSE_AFTER_UNAVAILABLE_MS))
      }
    }
  }
  const clients = Array.from({ length: options.clients }, (_, n) => client(n))

  return {
    answers,
    async stop() {
      stopping = true
      await Promise.all(clients)
      return {
        answers,
        acknowledgedLogs,
        acknowledgedPreferences,
        sentPreferences,
        acknowledgedPreferenceWrites,
        changedAnswers,
      }
    },
  }
}

/**
 * Counts the acknowledged writes that are not in the database: inference logs by request id,
 * and preferences whose stored value is older than the last one acknowledged.
 */
export async function lostWrites(
  sql: postgres.Sql,
  report: LoadReport,
): Promise<{ acknowledged: number; lost: string[] }> {
  const lost: string[] = []
  const ids = report.acknowledgedLogs
  const present = new Set(
    (
      await sql<{ request_id: string }[]>`
        select request_id from model_inference_logs where request_id = any(${ids})`
    ).map((r) => r.request_id),
  )
  for (const id of ids) if (!present.has(id)) lost.push(`inference log ${id}`)
  const users = [...report.acknowledgedPreferences.keys()]
  const stored = new Map(
    (
      await sql<{ user_id: string; n: number }[]>`
        select user_id, (preference_value->>'n')::int as n from user_preferences
        where preference_key = 'theme' and user_id = any(${users})`
    ).map((r) => [r.user_id, r.n]),
  )
  for (const [user, n] of report.acknowledgedPreferences) {
    const value = stored.get(user)
    // A later write may have landed without its answer getting back; an earlier one may not.
    if (value === undefined || value < n) lost.push(`preference of ${user}: ${value} < ${n}`)
  }
  return { acknowledged: ids.length + report.acknowledgedPreferenceWrites, lost }
}
