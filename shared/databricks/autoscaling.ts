import { z } from 'zod'
import { type CredentialRequest, durationField } from './credential-request.js'
import { endpointUnservable } from './database-state.js'
import type { ListedHosts } from './host-check.js'
import type { InstanceHosts, IssuedDatabaseToken } from './provisioned.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

const hostsSchema = z.object({
  host: z.string().optional(),
  read_only_host: z.string().optional(),
  read_only_pooled_host: z.string().optional(),
  read_write_pooled_host: z.string().optional(),
})

/** An endpoint's `status`, the fields the broker reads (the lookup's and the listing's alike). */
export const endpointStatusSchema = z.object({
  current_state: z.string().optional(),
  disabled: z.boolean().optional(),
  endpoint_type: z.string().optional(),
  hosts: hostsSchema.optional(),
})

const endpointSchema = z.object({ status: endpointStatusSchema.optional() })

const credentialSchema = z.object({
  token: z.string().min(1),
  // Autoscaling says expire_time where Provisioned says expiration_time.
  expire_time: z.string().optional(),
})

/** An Autoscaling endpoint as `GET /api/2.0/postgres/{endpoint}` describes it. */
export interface EndpointFacts extends ListedHosts {
  /** `status.current_state`: ACTIVE, IDLE (scaled to zero), INIT or DEGRADED. */
  state: string | undefined
  /** `status.disabled`: it accepts no connections, and none wakes it. */
  disabled: boolean | undefined
  /** `status.endpoint_type`: `ENDPOINT_TYPE_READ_WRITE` or `ENDPOINT_TYPE_READ_ONLY`. */
  type: string | undefined
}

/** `projects/<p>/branches/<b>/endpoints/<e>` as a URL path, each segment encoded. */
function endpointPath(endpoint: string): string {
  return endpoint.split('/').map(encodeURIComponent).join('/')
}

/** Looks up a Lakebase Autoscaling endpoint with `GET /api/2.0/postgres/{endpoint}`, whatever its state. */
export async function lookUpEndpoint(
  call: BoundWorkspaceCall,
  endpoint: string,
): Promise<EndpointFacts> {
  const found = await call(
    {
      method: 'GET',
      path: `/api/2.0/postgres/${endpointPath(endpoint)}`,
      operation: `the lookup of endpoint ${endpoint}`,
    },
    endpointSchema,
  )
  return endpointFacts(found.status)
}

/** What an endpoint's `status` says, empty fields as absent. */
export function endpointFacts(
  status: z.infer<typeof endpointStatusSchema> | undefined,
): EndpointFacts {
  const hosts = status?.hosts
  return {
    state: status?.current_state,
    disabled: status?.disabled,
    type: status?.endpoint_type,
    host: hosts?.host || undefined,
    readOnlyHost: hosts?.read_only_host || undefined,
    pooledHosts: [hosts?.read_write_pooled_host, hosts?.read_only_pooled_host].filter(
      (h): h is string => Boolean(h),
    ),
  }
}

/**
 * Where to connect to a Lakebase Autoscaling endpoint: `status.hosts.host` (the read-write host
 * of a read-write endpoint, the read-only host of a read-only one), and `read_only_host` (its
 * readable secondaries) when it lists one. Never a pooled host: Lakebase's pooler accepts no
 * OAuth token.
 *
 * @throws UpstreamError `not_available` (transient) naming the condition when the endpoint is
 *   disabled, or still INIT without a host; `malformed_response` when it lists no host otherwise.
 */
export async function autoscalingEndpointHost(
  call: BoundWorkspaceCall,
  endpoint: string,
): Promise<InstanceHosts> {
  const found = await lookUpEndpoint(call, endpoint)
  const unservable = endpointUnservable(endpoint, found)
  if (unservable !== undefined) throw unservable
  if (found.host === undefined) {
    if (found.state === 'INIT') {
      throw new UpstreamError(
        'not_available',
        `the Lakebase endpoint ${endpoint} is INIT and lists no host yet`,
        {
          suggestion:
            'none needed: the endpoint is INIT (being created); the broker retries until it lists its host',
        },
      )
    }
    throw new UpstreamError(
      'malformed_response',
      `the Lakebase endpoint ${endpoint} has no status.hosts.host; set PGHOST to its host`,
    )
  }
  return { host: found.host, readOnlyHost: found.readOnlyHost }
}

/**
 * Mints a database token for a Lakebase Autoscaling endpoint with
 * `POST /api/2.0/postgres/credentials` `{endpoint, claims?, ttl?, group_name?}`; `ttl` goes as a
 * Duration (`"900s"`). With `group_name` the token logs in as that workspace group's Postgres
 * role (the caller must be a member). The expiry that comes back is what the credential's
 * schedule follows.
 */
export async function autoscalingDatabaseToken(
  call: BoundWorkspaceCall,
  endpoint: string,
  request: CredentialRequest = {},
): Promise<IssuedDatabaseToken> {
  const issued = await call(
    {
      method: 'POST',
      path: '/api/2.0/postgres/credentials',
      json: {
        endpoint,
        ...(request.claims === undefined ? {} : { claims: request.claims }),
        ...(request.ttlS === undefined ? {} : { ttl: durationField(request.ttlS) }),
        ...(request.groupName === undefined ? {} : { group_name: request.groupName }),
      },
      operation: `the database credential request for endpoint ${endpoint}`,
    },
    credentialSchema,
  )
  return { token: issued.token, statedExpiry: issued.expire_time }
}
