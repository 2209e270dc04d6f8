import { z } from 'zod'
import type { DatabaseClaim } from './credential-request.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

/** The only instance state in which Lakebase Provisioned accepts connections. */
const READY_STATE = 'AVAILABLE'

const instanceSchema = z.object({
  state: z.string().optional(),
  read_write_dns: z.string().optional(),
  read_only_dns: z.string().optional(),
})

const credentialSchema = z.object({
  token: z.string().min(1),
  expiration_time: z.string().optional(),
})

/** A database token as the workspace returned it. */
export interface IssuedDatabaseToken {
  token: string
  /** The expiry the response stated, if it stated one (RFC 3339). */
  statedExpiry: string | undefined
}

/** A Provisioned instance's hosts, as its lookup found them. */
export interface InstanceHosts {
  /** Where to connect: `read_write_dns`, or `read_only_dns` when the read-only host was asked. */
  host: string
  /** `read_only_dns` when the instance has readable secondaries; undefined when it has none. */
  readOnlyHost: string | undefined
}

/**
 * Looks up a Lakebase Provisioned instance's hosts with `GET /api/2.0/database/instances/{name}`:
 * `read_write_dns` (the primary), or `read_only_dns` (its readable secondaries) when `readOnly`;
 * and, either way, `read_only_dns` when it is not empty.
 *
 * @throws UpstreamError `not_available` (transient) naming the state when the instance is not
 *   `AVAILABLE`, as the Databricks CLI refuses to connect then too; `config` (permanent) when a
 *   read-only host is wanted and the instance has none.
 */
export async function provisionedInstanceHost(
  call: BoundWorkspaceCall,
  instanceName: string,
  options: { readOnly?: boolean | undefined } = {},
): Promise<InstanceHosts> {
  const instance = await call(
    {
      method: 'GET',
      path: `/api/2.0/database/instances/${encodeURIComponent(instanceName)}`,
      operation: `the lookup of database instance ${instanceName}`,
    },
    instanceSchema,
  )
  if (instance.state !== undefined && instance.state !== READY_STATE) {
    throw new UpstreamError(
      'not_available',
      `the database instance ${instanceName} is ${instance.state}; retry when the instance becomes available`,
    )
  }
  const readOnlyHost = instance.read_only_dns === '' ? undefined : instance.read_only_dns
  if (options.readOnly) {
    if (readOnlyHost === undefined) {
      throw new UpstreamError(
        'config',
        `the database instance ${instanceName} has no read_only_dns; enable readable secondaries on it, or unset LAKEBASE_READ_ONLY`,
      )
    }
    return { host: readOnlyHost, readOnlyHost }
  }
  if (instance.read_write_dns === undefined || instance.read_write_dns === '') {
    throw new UpstreamError(
      'malformed_response',
      `the database instance ${instanceName} has no read_write_dns; set PGHOST to its host`,
    )
  }
  return { host: instance.read_write_dns, readOnlyHost }
}

/**
 * Mints a database token for a Lakebase Provisioned instance with
 * `POST /api/2.0/database/credentials` `{instance_names: [name], request_id, claims?}`.
 *
 * @param requestId a fresh UUID v4 for each call
 */
export async function provisionedDatabaseToken(
  call: BoundWorkspaceCall,
  instanceName: string,
  requestId: string,
  claims?: readonly DatabaseClaim[],
): Promise<IssuedDatabaseToken> {
  const issued = await call(
    {
      method: 'POST',
      path: '/api/2.0/database/credentials',
      json: {
        instance_names: [instanceName],
        request_id: requestId,
        ...(claims === undefined ? {} : { claims }),
      },
      operation: `the database credential request for instance ${instanceName}`,
    },
    credentialSchema,
  )
  return { token: issued.token, statedExpiry: issued.expiration_time }
}
