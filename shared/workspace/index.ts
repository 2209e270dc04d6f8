/**
 * `lakebase-broker/workspace`: Databricks workspace calls signed in as the broker signs in (PAT,
 * OAuth M2M, Azure, Databricks CLI, config profile), sharing its workspace token when both run in
 * one process. Today that is model serving: list endpoints and invoke them, with a deadline, each
 * failure classified as an {@link UpstreamError}.
 */
import type { Clock } from '../clock.js'
import type { ServingClient } from '../databricks/serving-client.js'
import { servingClientFromSettings } from '../databricks/serving-connect.js'
import { workspaceAuthSettingsFromEnv } from '../databricks/workspace-settings.js'
import type { Env } from '../env.js'

export {
  type CallAs,
  type Invocation,
  ServingClient,
  type ServingEndpoint,
} from '../databricks/serving-client.js'
export { type ErrorClass, toUpstreamError, UpstreamError } from '../upstream-error.js'

/** Options of {@link servingClient}. */
export interface ServingClientFromEnvOptions {
  /** Holds `DATABRICKS_HOST` or `DATABRICKS_CONFIG_PROFILE` and the auth variables. @default `process.env` */
  env?: Env
  fetch?: typeof globalThis.fetch
  clock?: Clock
}

/**
 * The model serving client for the workspace `env` names, its auth method chosen once, as the
 * broker chooses its own; undefined when `env` names no workspace.
 *
 * @throws ConfigError when a setting is wrong or the chosen auth method lacks a credential.
 */
export async function servingClient(
  options: ServingClientFromEnvOptions = {},
): Promise<ServingClient | undefined> {
  return servingClientFromSettings(workspaceAuthSettingsFromEnv(options.env ?? process.env), {
    fetch: options.fetch,
    clock: options.clock,
  })
}
