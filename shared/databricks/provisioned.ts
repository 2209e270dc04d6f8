import { z } from 'zod'
import type { DatabaseClaim } from './credential-request.js'
import { provisionedUnservable } from './database-state.js'
import type { ListedHosts } from './host-check.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

/** An instance, the fields the broker reads (the lookup's and the listing's alike). */
export const instanceSchema = z.object({
  state: z.string().optional(),
  read_write_dns: z.string().optional(),
  read_only_dns: z.string().optional(),
  capacity: z.string().optional(),
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

/** Where to connect to a Lakebase database, as its lookup found it. */
export interface InstanceHosts {
  /**
   * Where to connect: `read_write_dns` (`read_only_dns` when the read-only host was asked), or an
   * endpoint's `status.hosts.host`.
   */
  host: string
  /** The readable secondaries' host (`read_only_dns`, `read_only_host`); undefined when none. */
  readOnlyHost: string | undefined
}

/** A Provisioned instance as `GET /api/2.0/database/instances/{name}` describes it. */
export interface InstanceFacts extends ListedHosts {
  /** `AVAILABLE`, `STARTING`, `UPDATING`, `UPGRADING`, `FAILING_OVER`, `STOPPED`, `DELETING`. */
  state: string | undefined
  /** e.g. `CU_1`. */
  capacity: string | undefined
}

/** Looks up a Lakebase Provisioned instance with `GET /api/2.0/database/instances/{name}`, whatever its state. */
export async function lookUpInstance(
  call: BoundWorkspaceCall,
  instanceName: string,
): Promise<InstanceFacts> {
  const instance = await call(
    {
      method: 'GET',
      path: `/api/2.0/database/instances/${encodeURIComponent(instanceName)}`,
      operation: `the lookup of database instance ${instanceName}`,
    },
    instanceSchema,
  )
  return instanceFacts(instance)
}

/** What an instance's fields say, empty hosts as absent. */
export function instanceFacts(instance: z.infer<typeof instanceSchema>): InstanceFacts {
  return {
    state: instance.state,
    capacity: instance.capacity,
    host: instance.read_write_dns || undefined,
    readOnlyHost: instance.read_only_dns || undefined,
    pooledHosts: [],
  }
}

/**
 * Looks up a Lakebase Provisioned instance's hosts with `GET /api/2.0/database/instances/{name}`:
 * `read_write_dns` (the primary), or `read_only_dns` (its readable secondaries) when `readOnly`;
 * and, either way, `read_only_dns` when it is not empty. Any state passes but STOPPED and
 * DELETING: the instance comes back by itself from STARTING, UPDATING, UPGRADING and
 * FAILING_OVER, and nothing ties minting to the state, so the connection decides.
 *
 * @throws UpstreamError `not_available` (transient) naming the state when the instance is
 *   STOPPED or DELETING; `config` (permanent) when a read-only host is wanted and the instance
 *   has none.
 */
export async function provisionedInstanceHost(
  call: BoundWorkspaceCall,
  instanceName: string,
  options: { readOnly?: boolean | undefined } = {},
): Promise<InstanceHosts> {
  const instance = await lookUpInstance(call, instanceName)
  const unservable = provisionedUnservable(instanceName, instance.state)
  if (unservable !== undefined) throw unservable
  const { readOnlyHost } = instance
  if (options.readOnly) {
    if (readOnlyHost === undefined) {
      throw new UpstreamError(
        'config',
        `the database instance ${instanceName} has no read_only_dns; enable readable secondaries on it, or unset LAKEBASE_READ_ONLY`,
      )
    }
    return { host: readOnlyHost, readOnlyHost }
  }
  if (instance.host === undefined) {
    throw new UpstreamError(
      'malformed_response',
      `the database instance ${instanceName} has no read_write_dns; set PGHOST to its host`,
    )
  }
  return { host: instance.host, readOnlyHost }
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
