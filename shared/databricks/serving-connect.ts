import type { Clock } from '../client/clock.js'
import type { Env } from '../process/env.js'
import { sharedWorkspaceAuth } from './auth/shared-auth.js'
import { ServingClient } from './serving-client.js'
import { type WorkspaceAuthSettings, workspaceAuthSettingsFromEnv } from './workspace-settings.js'

/**
 * The model serving client for the configured workspace, its auth method chosen once, at
 * start-up, as the broker chooses its own (PAT, OAuth M2M, Azure, Databricks CLI, config
 * profile), and its workspace token shared with every broker target in the process that signs in
 * to the same workspace as the same identity;
 * undefined when no workspace is configured, so that model serving answers 503.
 *
 * Kept apart from the routes: workspace auth may run the Databricks CLI and read
 * `~/.databrickscfg`, which only the Node entry points can do.
 *
 * @throws Error (a configuration error) when the chosen auth method lacks a credential.
 */
export async function servingClientFromSettings(
  settings: WorkspaceAuthSettings | undefined,
  deps: { clock?: Clock; fetch?: typeof globalThis.fetch } = {},
): Promise<ServingClient | undefined> {
  if (settings === undefined) return undefined
  // The same workspace token as the broker's targets when both run in this process.
  const auth = await sharedWorkspaceAuth(settings, { clock: deps.clock, fetch: deps.fetch })
  return new ServingClient({ auth, clock: deps.clock, fetch: deps.fetch })
}

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
