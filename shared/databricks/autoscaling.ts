import { z } from 'zod'
import { type CredentialRequest, durationField } from './credential-request.js'
import type { IssuedDatabaseToken } from './provisioned.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

/** Endpoint states that accept connections; an IDLE endpoint wakes up when a client connects. */
const READY_STATES: ReadonlySet<string> = new Set(['ACTIVE', 'IDLE'])

const endpointSchema = z.object({
  status: z
    .object({
      current_state: z.string().optional(),
      hosts: z.object({ host: z.string().optional() }).optional(),
    })
    .optional(),
})

const credentialSchema = z.object({
  token: z.string().min(1),
  // Autoscaling says expire_time where Provisioned says expiration_time.
  expire_time: z.string().optional(),
})

/** `projects/<p>/branches/<b>/endpoints/<e>` as a URL path, each segment encoded. */
function endpointPath(endpoint: string): string {
  return endpoint.split('/').map(encodeURIComponent).join('/')
}

/**
 * Looks up a Lakebase Autoscaling endpoint's host (`status.hosts.host`) with
 * `GET /api/2.0/postgres/{endpoint}`.
 *
 * @throws UpstreamError `not_available` (transient) naming the state when the endpoint is neither
 *   ACTIVE nor IDLE (e.g. INIT, DEGRADED).
 */
export async function autoscalingEndpointHost(
  call: BoundWorkspaceCall,
  endpoint: string,
): Promise<string> {
  const found = await call(
    {
      method: 'GET',
      path: `/api/2.0/postgres/${endpointPath(endpoint)}`,
      operation: `the lookup of endpoint ${endpoint}`,
    },
    endpointSchema,
  )
  const state = found.status?.current_state
  if (state !== undefined && !READY_STATES.has(state)) {
    throw new UpstreamError(
      'not_available',
      `the Lakebase endpoint ${endpoint} is ${state}; retry when the endpoint becomes ACTIVE or IDLE`,
    )
  }
  const host = found.status?.hosts?.host
  if (host === undefined || host === '') {
    throw new UpstreamError(
      'malformed_response',
      `the Lakebase endpoint ${endpoint} has no status.hosts.host; set PGHOST to its host`,
    )
  }
  return host
}

/**
 * Mints a database token for a Lakebase Autoscaling endpoint with
 * `POST /api/2.0/postgres/credentials` `{endpoint, claims?, ttl?}`; `ttl` goes as a Duration
 * (`"900s"`). The expiry that comes back is what the credential's schedule follows.
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
      },
      operation: `the database credential request for endpoint ${endpoint}`,
    },
    credentialSchema,
  )
  return { token: issued.token, statedExpiry: issued.expire_time }
}
