import type { Clock } from '../../shared/client/clock.js'
import { sharedWorkspaceAuth } from '../../shared/databricks/auth/shared-auth.js'
import {
  type DatabricksSettings,
  databricksSettingsFromEnv,
} from '../../shared/databricks/lakebase-settings.js'
import type { WorkspaceAuth } from '../../shared/databricks/workspace-auth.js'
import type { TargetConfig } from '../config.js'
import type { CredentialCache } from '../credential-cache.js'
import type { RefreshPolicy } from '../refresh-schedule.js'
import { UserMintLimiter } from './mint-limiter.js'
import { PerUserCredentials } from './per-user-credentials.js'
import { UserCredentialCache } from './user-credential-cache.js'
import { UserCredentialMinter } from './user-credential-minter.js'

/**
 * Per-user credentials for every `databricks` target; other providers have no user to mint for.
 * The workspace sign-in is the one the target's provider shares (no second sign-in), used only
 * for its host: each user's mint is signed with that user's token.
 */
export async function createPerUserCredentials(
  targets: readonly TargetConfig[],
  caches: ReadonlyMap<string, CredentialCache>,
  options: { clock: Clock; policy: RefreshPolicy },
): Promise<PerUserCredentials> {
  const perUser = new Map<string, UserCredentialCache>()
  // One limit per client across targets: a client's made-up tokens cost it, whichever target.
  const limiter = new UserMintLimiter(options.clock)
  for (const target of targets) {
    if (target.provider !== 'databricks') continue
    let settings: DatabricksSettings
    let auth: WorkspaceAuth
    try {
      settings = databricksSettingsFromEnv(target.env, { claims: target.claims })
      auth = await sharedWorkspaceAuth(settings.workspace, { clock: options.clock })
    } catch {
      // Only a provider built by another factory (a test's, `npm start`'s) gets here: the built-in
      // one already read these settings. Such a target answers PER_USER_UNSUPPORTED.
      continue
    }
    const appCache = caches.get(target.name)
    const minter = new UserCredentialMinter({
      settings,
      workspaceHost: auth.host,
      clock: options.clock,
      postgresHost: async () => {
        if (!appCache) throw new Error(`target "${target.name}" has no credential cache`)
        return (await appCache.get()).credential.host
      },
    })
    perUser.set(
      target.name,
      new UserCredentialCache({ minter, policy: options.policy, clock: options.clock, limiter }),
    )
  }
  return new PerUserCredentials(perUser)
}
