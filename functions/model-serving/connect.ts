import type { Clock } from '../../shared/clock.js'
import { resolveWorkspaceAuth } from '../../shared/databricks/auth/resolve.js'
import type { WorkspaceAuthSettings } from '../../shared/databricks/workspace-settings.js'
import { ServingClient } from './serving-client.js'

/**
 * The model serving client for the configured workspace, its auth method chosen once, at
 * start-up, as the broker chooses its own (PAT, OAuth M2M, Databricks CLI, config profile);
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
  const auth = await resolveWorkspaceAuth(settings, { clock: deps.clock, fetch: deps.fetch })
  return new ServingClient({ auth, clock: deps.clock, fetch: deps.fetch })
}
