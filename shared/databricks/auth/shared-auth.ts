import { createHash } from 'node:crypto'
import { type Clock, systemClock } from '../../client/clock.js'
import type { WorkspaceAuth } from '../workspace-auth.js'
import type { WorkspaceAuthSettings } from '../workspace-settings.js'
import {
  buildWorkspaceAuth,
  planWorkspaceAuth,
  type WorkspaceAuthDeps,
  type WorkspaceAuthPlan,
} from './resolve.js'

/**
 * One workspace auth per workspace host and identity, for a whole process: every broker target
 * on the same workspace and model serving share one workspace token, so a process signs in once
 * per token lifetime however many targets it serves, instead of once per target.
 *
 * The identity is the method and its credentials (PAT, client id + secret, CLI and profile), so
 * two targets signing in as different principals never share a token. Keys are SHA-256 digests:
 * the registry holds no secret of its own.
 *
 * Tokens are also kept apart per clock: a held token's freshness means something only on the
 * clock it was judged by. A process has one (the system clock); a test with its own scripted
 * clock gets its own tokens instead of another test's.
 */
export class WorkspaceAuthRegistry {
  readonly #byClock = new WeakMap<Clock, Map<string, WorkspaceAuth>>()

  /**
   * The auth for these settings: the one already built for the same host and identity, else a
   * new one. The first caller's `deps` (clock, fetch) are the ones the shared auth keeps.
   *
   * @throws Error (a configuration error), as resolveWorkspaceAuth.
   */
  async resolve(
    settings: WorkspaceAuthSettings,
    deps: WorkspaceAuthDeps = {},
  ): Promise<WorkspaceAuth> {
    const plan = await planWorkspaceAuth(settings)
    const clock = deps.clock ?? systemClock
    let held = this.#byClock.get(clock)
    if (held === undefined) {
      held = new Map()
      this.#byClock.set(clock, held)
    }
    const key = identityKey(plan, settings)
    const existing = held.get(key)
    if (existing !== undefined) return existing
    const auth = buildWorkspaceAuth(plan, settings, { ...deps, clock })
    held.set(key, auth)
    return auth
  }
}

/** The registry of this process: what the broker's targets and the functions' model serving use. */
export const processWorkspaceAuth = new WorkspaceAuthRegistry()

/**
 * The workspace auth for `settings`, shared with every other caller in this process that signs in
 * to the same workspace as the same identity; see {@link WorkspaceAuthRegistry}.
 */
export function sharedWorkspaceAuth(
  settings: WorkspaceAuthSettings,
  deps: WorkspaceAuthDeps = {},
): Promise<WorkspaceAuth> {
  return processWorkspaceAuth.resolve(settings, deps)
}

function identityKey(plan: WorkspaceAuthPlan, settings: WorkspaceAuthSettings): string {
  const credentials = plan.credentials
  const parts: string[] = [plan.host, plan.method, credentials.type]
  switch (credentials.type) {
    case 'pat':
      parts.push(credentials.token)
      break
    case 'oauth-m2m':
      parts.push(credentials.clientId, credentials.clientSecret)
      break
    case 'azure-client-secret':
      parts.push(
        settings.azureLoginHost ?? '',
        credentials.tenantId,
        credentials.clientId,
        credentials.clientSecret,
      )
      break
    case 'azure-cli':
      parts.push(settings.azureCliPath ?? '', credentials.tenantId ?? '')
      break
    case 'databricks-cli':
      parts.push(settings.cliPath, settings.configFile, credentials.profile ?? '')
      break
    default:
      credentials satisfies never
  }
  return createHash('sha256').update(parts.join('\0')).digest('hex')
}
