import type { ManualClock } from './manual-clock.js'
import type { MockRoute } from './routes.js'
import type { ScriptStep } from './script.js'
import type { MockWorkspace } from './workspace.js'

/**
 * Every fault the kit can inject, one name each: the ways a Databricks workspace (or the network
 * to it, or the machine's own clock) lets a credential broker down.
 */
export const FAULT_KINDS = [
  'latency',
  'server-error',
  'rate-limited',
  'connection-reset',
  'malformed-json',
  'missing-fields',
  'unauthorized',
  'forbidden',
  'not-found',
  'token-without-sub',
  'expired-token',
  'clock-jump',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/**
 * How a well-behaved client must take a fault: `transient` — retry with backoff and keep serving
 * what it has; `permanent` — report it at once with the upstream code (a person must act);
 * `absorbed` — no failure at all (another source of the same fact, or a clock to re-read).
 */
export type FaultClass = 'transient' | 'permanent' | 'absorbed'

export interface FaultInfo {
  kind: FaultKind
  class: FaultClass
  /** What the workspace (or clock) does, in one sentence. */
  description: string
  /** The HTTP status the workspace answers with, for faults that are an HTTP status. */
  upstreamStatus?: number
  /** The `error_code` that comes with it. */
  upstreamErrorCode?: string
}

/** The catalogue: what each fault does and how a client must take it. */
export const FAULTS: Readonly<Record<FaultKind, FaultInfo>> = {
  latency: {
    kind: 'latency',
    class: 'transient',
    description:
      'each call answers only after `latencyMs` (30 s unless given: past any call timeout)',
  },
  'server-error': {
    kind: 'server-error',
    class: 'transient',
    description: 'each call answers 503 TEMPORARILY_UNAVAILABLE (or `status`)',
    upstreamStatus: 503,
    upstreamErrorCode: 'TEMPORARILY_UNAVAILABLE',
  },
  'rate-limited': {
    kind: 'rate-limited',
    class: 'transient',
    description: 'each call answers 429 REQUEST_LIMIT_EXCEEDED with Retry-After `retryAfterS`',
    upstreamStatus: 429,
    upstreamErrorCode: 'REQUEST_LIMIT_EXCEEDED',
  },
  'connection-reset': {
    kind: 'connection-reset',
    class: 'transient',
    description: 'each call has its connection dropped before any answer',
  },
  'malformed-json': {
    kind: 'malformed-json',
    class: 'transient',
    description: 'each call answers 200 with JSON cut off mid-token',
  },
  'missing-fields': {
    kind: 'missing-fields',
    class: 'transient',
    description: 'each call answers 200 without the field that matters (the token, the host…)',
  },
  unauthorized: {
    kind: 'unauthorized',
    class: 'permanent',
    description: 'each call answers 401 UNAUTHENTICATED (a revoked token)',
    upstreamStatus: 401,
    upstreamErrorCode: 'UNAUTHENTICATED',
  },
  forbidden: {
    kind: 'forbidden',
    class: 'permanent',
    description: 'each call answers 403 PERMISSION_DENIED (a revoked grant)',
    upstreamStatus: 403,
    upstreamErrorCode: 'PERMISSION_DENIED',
  },
  'not-found': {
    kind: 'not-found',
    class: 'permanent',
    description: 'each call answers 404 RESOURCE_DOES_NOT_EXIST (a deleted instance)',
    upstreamStatus: 404,
    upstreamErrorCode: 'RESOURCE_DOES_NOT_EXIST',
  },
  'token-without-sub': {
    kind: 'token-without-sub',
    class: 'absorbed',
    description:
      'credential calls mint a token without a `sub` claim (the user must come from SCIM)',
  },
  'expired-token': {
    kind: 'expired-token',
    class: 'transient',
    description: 'credential calls mint a token that expired a minute ago',
  },
  'clock-jump': {
    kind: 'clock-jump',
    class: 'absorbed',
    description:
      'the machine clock jumps by `jumpMs`: forward as after a suspension, back as after an NTP step',
  },
}

/** How long a `latency` fault holds each answer unless told: past any sane call timeout. */
export const DEFAULT_FAULT_LATENCY_MS = 30_000
/** The `Retry-After` of a `rate-limited` fault unless told. */
export const DEFAULT_RETRY_AFTER_S = 5

/** The field a `missing-fields` fault leaves out, per route: the one the caller cannot do without. */
export const ESSENTIAL_FIELDS: Readonly<Record<MockRoute, readonly string[]>> = {
  databaseCredentials: ['token'],
  listInstances: ['database_instances'],
  getInstance: ['read_write_dns'],
  postgresCredentials: ['token'],
  getEndpoint: ['status'],
  oidcDiscovery: ['token_endpoint'],
  oidcToken: ['access_token'],
  scimMe: ['userName'],
  azureToken: ['access_token'],
}

const CREDENTIAL_ROUTES: ReadonlySet<MockRoute> = new Set([
  'databaseCredentials',
  'postgresCredentials',
])

export interface FaultOptions {
  /** The route whose calls fail; the Provisioned credential call by default. */
  route?: MockRoute
  /**
   * How many consecutive calls of the route fail (1 by default), or `'outage'`: every call until
   * `workspace.unscript(route)`.
   */
  calls?: number | 'outage'
  /** `latency`: how long each answer takes, in ms. */
  latencyMs?: number
  /** `server-error`: the status (5xx). */
  status?: number
  /** `rate-limited`: the `Retry-After`, in seconds. */
  retryAfterS?: number
  /** `clock-jump`: milliseconds, positive forward (a suspension), negative back. Required. */
  jumpMs?: number
}

/** What a fault is injected into: the workspace, and for `clock-jump` the clock. */
export interface FaultTarget {
  workspace: MockWorkspace
  clock?: ManualClock
}

/**
 * The script step that makes one call of `route` fail as `kind` says. Throws for `clock-jump`,
 * which is not a call, and for token faults on a route that mints no database token.
 */
export function faultStep(kind: FaultKind, options: FaultOptions = {}): ScriptStep {
  const route = options.route ?? 'databaseCredentials'
  const info = FAULTS[kind]
  switch (kind) {
    case 'latency':
      return { delayMs: options.latencyMs ?? DEFAULT_FAULT_LATENCY_MS }
    case 'server-error': {
      const status = options.status ?? info.upstreamStatus ?? 503
      if (status < 500 || status > 599) throw new Error(`server-error needs a 5xx, not ${status}`)
      return { status }
    }
    case 'rate-limited':
      return { status: 429, retryAfter: options.retryAfterS ?? DEFAULT_RETRY_AFTER_S }
    case 'connection-reset':
      return { networkError: true }
    case 'malformed-json':
      return { truncatedJson: true }
    case 'missing-fields':
      return { omitFields: ESSENTIAL_FIELDS[route] }
    case 'unauthorized':
    case 'forbidden':
    case 'not-found':
      return { status: info.upstreamStatus ?? 400, error_code: info.upstreamErrorCode }
    case 'token-without-sub':
    case 'expired-token':
      if (!CREDENTIAL_ROUTES.has(route)) {
        throw new Error(`${kind} applies to a credential route, not ${route}`)
      }
      return kind === 'token-without-sub' ? { noSub: true } : { expired: true }
    case 'clock-jump':
      throw new Error('clock-jump is not a workspace call; inject it with injectFault')
  }
}

/**
 * Injects a fault: scripts the next `calls` calls of the route (or all of them, for an outage),
 * or for `clock-jump` moves the clock by `jumpMs` (forward with `jump`, back with `jumpBack`).
 *
 * @example
 * injectFault({ workspace }, 'rate-limited', { retryAfterS: 7 })
 * injectFault({ workspace }, 'server-error', { calls: 'outage' }) // until workspace.unscript(…)
 * injectFault({ workspace, clock }, 'clock-jump', { jumpMs: -60_000 })
 */
export function injectFault(
  target: FaultTarget,
  kind: FaultKind,
  options: FaultOptions = {},
): void {
  if (kind === 'clock-jump') {
    const { clock } = target
    if (clock === undefined)
      throw new Error('clock-jump needs the ManualClock the code under test uses')
    if (options.jumpMs === undefined || options.jumpMs === 0) {
      throw new Error('clock-jump needs jumpMs: positive to jump forward, negative to jump back')
    }
    if (options.jumpMs > 0) clock.jump(options.jumpMs)
    else clock.jumpBack(-options.jumpMs)
    return
  }
  const route = options.route ?? 'databaseCredentials'
  const step = faultStep(kind, options)
  const calls = options.calls ?? 1
  if (calls === 'outage') target.workspace.outage(route, step)
  else target.workspace.script(route, ...Array.from({ length: calls }, () => step))
}
