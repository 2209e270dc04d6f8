import { randomUUID } from 'node:crypto'
import { type HttpHandler, HttpResponse, http } from 'msw'
import { databricksError } from '../script.js'
import type { WorkspaceContext } from './context.js'
import { CLAIMS_SHAPE, parseJson, readClaims } from './request-body.js'
import { type Respond, route } from './route.js'

/** Lakebase Autoscaling endpoint states (`status.current_state`, `status.pending_state`). */
export type EndpointState = 'ACTIVE' | 'IDLE' | 'INIT' | 'DEGRADED'
/** `status.endpoint_type`: a branch has one read-write endpoint, and any number of read-only ones. */
export type EndpointType = 'ENDPOINT_TYPE_READ_WRITE' | 'ENDPOINT_TYPE_READ_ONLY'

/**
 * An Autoscaling endpoint: its resource path, state, type and hosts (`status.hosts.*` of
 * `GET /api/2.0/postgres/{name}`, as the Python SDK's `service/postgres.py` has them).
 */
export interface MockEndpoint {
  /** `projects/<p>/branches/<b>/endpoints/<e>` */
  name: string
  current_state: EndpointState
  /** The state it is moving to, if any. */
  pending_state?: EndpointState | undefined
  /** Read-write by default. */
  endpoint_type: EndpointType
  /** A disabled endpoint refuses connections, and no connection wakes it. */
  disabled: boolean
  /** Read-write host of a read-write endpoint; the read-only host of a read-only one. */
  host: string
  /**
   * The unpooled read-only host: always the `host` of a read-only endpoint; on a read-write one
   * only when its group has more than one compute with readable secondaries (none by default).
   */
  read_only_host?: string | undefined
  /**
   * The pooled (PgBouncer) hosts, which serve native Postgres passwords only, never an OAuth
   * token: a broker must not send a minted credential there. `read_write_pooled_host` exists on a
   * read-write endpoint only.
   */
  read_write_pooled_host?: string | undefined
  read_only_pooled_host?: string | undefined
}

/** The endpoint a workspace has when the test names none. */
export const DEFAULT_ENDPOINT = 'projects/test-project/branches/production/endpoints/primary'
/** The lifetimes Autoscaling accepts in a credential request's `ttl`, seconds. */
const TTL_RANGE_S = { min: 300, max: 3600 }
/** What a suspended endpoint reports as its `suspend_timeout_duration` (Lakebase's default). */
const SUSPEND_TIMEOUT = '300s'

/**
 * The endpoints the test asked for, each completed with realistic defaults: ACTIVE, read-write,
 * one compute (so no `read_only_host`), and a pooled host beside each unpooled one.
 */
export function mockEndpoints(
  given: ReadonlyArray<Partial<MockEndpoint> & { name: string }> = [{ name: DEFAULT_ENDPOINT }],
): Map<string, MockEndpoint> {
  const endpoints = new Map<string, MockEndpoint>()
  for (const endpoint of given) {
    const readOnly = endpoint.endpoint_type === 'ENDPOINT_TYPE_READ_ONLY'
    const id = `ep-${randomUUID().slice(0, 8)}${readOnly ? '-ro' : ''}`
    const host = endpoint.host ?? `${id}.database.us-west-2.cloud.databricks.com`
    const pooled = `${id}-pooler.database.us-west-2.cloud.databricks.com`
    endpoints.set(endpoint.name, {
      current_state: 'ACTIVE',
      endpoint_type: 'ENDPOINT_TYPE_READ_WRITE',
      disabled: false,
      ...(readOnly
        ? { read_only_host: host, read_only_pooled_host: pooled }
        : { read_write_pooled_host: pooled }),
      ...endpoint,
      host,
    })
  }
  return endpoints
}

/**
 * An endpoint as `GET /api/2.0/postgres/{name}` (and the endpoint listing) answers it: `name`,
 * `endpoint_id`, `parent`, `uid` and `status`, with only the hosts it has.
 */
export function endpointResource(endpoint: MockEndpoint): Record<string, unknown> {
  const segments = endpoint.name.split('/')
  const secondaries =
    endpoint.endpoint_type === 'ENDPOINT_TYPE_READ_WRITE' && endpoint.read_only_host
  const hosts = Object.fromEntries(
    (
      ['host', 'read_only_host', 'read_only_pooled_host', 'read_write_pooled_host'] as const
    ).flatMap((field) => (endpoint[field] ? [[field, endpoint[field]]] : [])),
  )
  return {
    name: endpoint.name,
    endpoint_id: segments.at(-1),
    parent: segments.slice(0, 4).join('/'),
    uid: `${segments.at(-1)}-uid`,
    status: {
      current_state: endpoint.current_state,
      ...(endpoint.pending_state === undefined ? {} : { pending_state: endpoint.pending_state }),
      endpoint_type: endpoint.endpoint_type,
      disabled: endpoint.disabled,
      group: {
        min: secondaries ? 2 : 1,
        max: secondaries ? 2 : 1,
        enable_readable_secondaries: Boolean(secondaries),
      },
      suspend_timeout_duration: SUSPEND_TIMEOUT,
      hosts,
    },
  }
}

/** How the Autoscaling routes are set up. */
export interface AutoscalingSettings {
  endpoints: Map<string, MockEndpoint>
  /** Workspace groups by display name, with their members' identities. */
  groups: ReadonlyMap<string, readonly string[]>
}

/**
 * Lakebase Autoscaling: `POST /api/2.0/postgres/credentials` and
 * `GET /api/2.0/postgres/projects/{p}/branches/{b}/endpoints/{e}`, answered from `endpoints`.
 */
export function autoscalingHandlers(
  context: WorkspaceContext,
  settings: AutoscalingSettings,
): HttpHandler[] {
  const { host } = context
  const { endpoints } = settings
  return [
    http.post(
      `${host}/api/2.0/postgres/credentials`,
      route(context, 'postgresCredentials', 'bearer', mintForEndpoint(context, settings)),
    ),
    http.get(
      `${host}/api/2.0/postgres/projects/:project/branches/:branch/endpoints/:endpoint`,
      route(context, 'getEndpoint', 'bearer', ({ params }) => {
        const name = `projects/${params.project}/branches/${params.branch}/endpoints/${params.endpoint}`
        const endpoint = endpoints.get(name)
        return endpoint === undefined
          ? noSuchEndpoint(name)
          : HttpResponse.json(endpointResource(endpoint))
      }),
    ),
  ]
}

/**
 * `{endpoint, claims?, ttl?, group_name?}` → `{token, expire_time}`, checked as Lakebase
 * Autoscaling does. With `group_name` the credential logs in as the group's role (the recorded
 * `user`, and the `user` given to `onCredentialMinted`), and only a member may ask; the token's
 * `sub` stays the caller's.
 */
function mintForEndpoint(context: WorkspaceContext, settings: AutoscalingSettings): Respond {
  return async ({ body, step, caller }) => {
    const json = parseJson(body)
    const endpoint = json?.endpoint
    if (typeof endpoint !== 'string') {
      return databricksError(400, 'INVALID_PARAMETER_VALUE', 'endpoint is required')
    }
    if (!settings.endpoints.has(endpoint)) return noSuchEndpoint(endpoint)
    const claims = readClaims(json?.claims)
    if (claims === 'invalid') {
      return databricksError(400, 'INVALID_PARAMETER_VALUE', CLAIMS_SHAPE)
    }
    const ttlS = readTtl(json?.ttl)
    if (ttlS === 'invalid') {
      return databricksError(
        400,
        'INVALID_PARAMETER_VALUE',
        `ttl must be a duration of ${TTL_RANGE_S.min}s to ${TTL_RANGE_S.max}s`,
      )
    }
    const group = json?.group_name
    const refused = groupRefusal(settings.groups, group, caller?.user)
    if (refused !== undefined) return refused
    const credential = await context.mint({
      user: caller?.user,
      ...(typeof group === 'string' ? { group } : {}),
      claims,
      ttlS,
      // A requested lifetime is what the workspace mints, unless the step scripts another.
      lifetimeS: step.lifetimeS ?? ttlS,
      noSub: step.noSub,
      expired: step.expired,
    })
    return HttpResponse.json({
      token: credential.token,
      ...(step.omitExpiration ? {} : { expire_time: credential.expiresAt.toISOString() }),
    })
  }
}

/** Why a `group_name` is refused: not a name (400), no such group (404), not a member (403). */
function groupRefusal(
  groups: ReadonlyMap<string, readonly string[]>,
  group: unknown,
  caller: string | undefined,
): Response | undefined {
  if (group === undefined) return undefined
  if (typeof group !== 'string' || group === '') {
    return databricksError(
      400,
      'INVALID_PARAMETER_VALUE',
      'group_name must be a group display name',
    )
  }
  const members = groups.get(group)
  if (members === undefined) {
    return databricksError(404, 'RESOURCE_DOES_NOT_EXIST', `Group '${group}' does not exist.`)
  }
  if (caller === undefined || !members.includes(caller)) {
    return databricksError(
      403,
      'PERMISSION_DENIED',
      `The caller is not a member of group '${group}'.`,
    )
  }
  return undefined
}

function noSuchEndpoint(name: string): Response {
  return databricksError(404, 'NOT_FOUND', `Endpoint '${name}' not found.`)
}

/** A request's `ttl` (a Duration, `"900s"`) in seconds: undefined when absent, else checked. */
function readTtl(value: unknown): number | undefined | 'invalid' {
  if (value === undefined) return undefined
  const match = typeof value === 'string' ? /^(\d+)s$/.exec(value) : null
  const seconds = match?.[1] === undefined ? Number.NaN : Number(match[1])
  if (!(seconds >= TTL_RANGE_S.min && seconds <= TTL_RANGE_S.max)) return 'invalid'
  return seconds
}
