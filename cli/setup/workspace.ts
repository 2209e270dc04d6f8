import type { WorkspaceAuthDeps } from '../../shared/databricks/auth/resolve.js'
import { sharedWorkspaceAuth } from '../../shared/databricks/auth/shared-auth.js'
import type { WorkspaceAuth } from '../../shared/databricks/workspace-auth.js'
import {
  type BoundWorkspaceCall,
  bindWorkspaceCall,
} from '../../shared/databricks/workspace-http.js'
import {
  invalidSettings,
  type WorkspaceAuthSettings,
  workspaceAuthSettings,
  workspaceEnvSchema,
} from '../../shared/databricks/workspace-settings.js'
import type { Env } from '../../shared/process/env.js'

/**
 * One interactive or start-up step (sign in, list, look up) gets this long in all. Each call has
 * its own shorter timeout (WORKSPACE_CALL_TIMEOUT_MS); this bounds a listing of many pages.
 */
export const WORKSPACE_STEP_TIMEOUT_MS = 60_000

/**
 * The workspace settings in `env`, read as the broker reads them (DATABRICKS_HOST, token, client
 * id and secret, auth type, config profile, CLI path) and nothing else, so that a problem with a
 * database setting is not reported as a sign-in problem.
 *
 * @throws Error (a configuration error) naming each offending variable, never its value.
 */
export function workspaceSettingsFrom(env: Env): WorkspaceAuthSettings {
  const parsed = workspaceEnvSchema.safeParse(env)
  if (!parsed.success) throw invalidSettings(parsed.error)
  return workspaceAuthSettings(parsed.data)
}

/** A signed-in workspace, as the broker signs in: the same settings and precedence. */
export interface WorkspaceSession {
  auth: WorkspaceAuth
  /** Gets a workspace token and binds the calls to it (and to `signal`, else a step timeout). */
  call(signal?: AbortSignal): Promise<BoundWorkspaceCall>
}

/**
 * Signs in to the workspace exactly as the broker's `databricks` provider does
 * (`resolveWorkspaceAuth`: PAT, OAuth M2M, config profile, Databricks CLI), for the setup tools.
 * Building the session does no I/O except reading a config profile; the first `call` fetches
 * the workspace token.
 *
 * @throws Error (a configuration error) when no method applies; see resolveWorkspaceAuth.
 */
export async function openWorkspace(
  settings: WorkspaceAuthSettings,
  deps: WorkspaceAuthDeps = {},
): Promise<WorkspaceSession> {
  const auth = await sharedWorkspaceAuth(settings, deps)
  return {
    auth,
    async call(signal = AbortSignal.timeout(WORKSPACE_STEP_TIMEOUT_MS)) {
      const token = await auth.token(signal)
      return bindWorkspaceCall(auth.host, token.accessToken, signal, deps)
    },
  }
}
