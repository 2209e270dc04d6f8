import { UpstreamError } from './upstream-error.js'

/**
 * The Provisioned state in which an instance accepts connections now, the only one in which the
 * Databricks CLI's `psql` connects.
 */
export const PROVISIONED_CONNECTABLE: ReadonlySet<string> = new Set(['AVAILABLE'])
/**
 * The Autoscaling states in which an endpoint accepts connections now, as the CLI's `psql` has
 * them: IDLE is scaled to zero and wakes when a client connects.
 */
export const AUTOSCALING_CONNECTABLE: ReadonlySet<string> = new Set(['ACTIVE', 'IDLE'])

/**
 * Provisioned states in which a credential is not worth having, with what a person must do:
 * the instance accepts no connection until someone acts. Every other state (STARTING, UPDATING,
 * UPGRADING, FAILING_OVER, and any the API adds) passes: nothing in the API ties minting to the
 * state, so the broker keeps minting and lets the connection decide.
 */
const PROVISIONED_UNSERVABLE: Readonly<Record<string, string>> = {
  STOPPED:
    'start the instance: it is STOPPED, and no connection starts it; the broker retries by itself and serves it once it is up',
  DELETING:
    'the instance is DELETING: name another one in LAKEBASE_INSTANCE_NAME (`npm run configure` lists them)',
}

/**
 * Why a Provisioned instance in `state` cannot be served, or undefined when it can.
 *
 * @returns an UpstreamError `not_available` (transient: a started instance is picked up at the
 *   next retry) whose suggestion names the state.
 */
export function provisionedUnservable(
  instanceName: string,
  state: string | undefined,
): UpstreamError | undefined {
  const suggestion = state === undefined ? undefined : PROVISIONED_UNSERVABLE[state]
  if (suggestion === undefined) return undefined
  return new UpstreamError(
    'not_available',
    `the database instance ${instanceName} is ${state}: it accepts no connections`,
    { suggestion },
  )
}

/** What `status` of an Autoscaling endpoint says about serving it. */
export interface EndpointCondition {
  state: string | undefined
  /** `status.disabled`: it refuses connections, and no connection wakes it. */
  disabled: boolean | undefined
}

/**
 * Why an Autoscaling endpoint cannot be served, or undefined when it can. Every
 * `current_state` (ACTIVE, IDLE, INIT, DEGRADED) can: IDLE wakes on connect, and a credential
 * can be minted in any of them. A disabled endpoint cannot, whatever its state.
 *
 * @returns an UpstreamError `not_available` (transient) whose suggestion names the condition.
 */
export function endpointUnservable(
  endpoint: string,
  condition: EndpointCondition,
): UpstreamError | undefined {
  if (condition.disabled !== true) return undefined
  return new UpstreamError(
    'not_available',
    `the Lakebase endpoint ${endpoint} is disabled (state ${condition.state ?? 'unknown'}): it accepts no connections, and none wakes it`,
    {
      suggestion:
        'enable the endpoint: it is disabled, so no connection wakes it; the broker retries by itself and serves it once it is enabled',
    },
  )
}
