import type { Clock } from '../../shared/client/clock.js'
import type { Env } from '../../shared/process/env.js'
import type { Logger } from '../../shared/process/logger.js'
import type { ProviderKind, TargetConfig } from '../config.js'
import { ConfigError } from '../config.js'
import type { CredentialProvider } from './provider.js'

export interface ProviderDeps {
  clock: Clock
  logger: Logger
}

export type ProviderFactory = (
  env: Env,
  deps: ProviderDeps,
  target: TargetConfig,
) => CredentialProvider | Promise<CredentialProvider>
export type ProviderFactories = Partial<Record<ProviderKind, ProviderFactory>>

/**
 * Each provider's code is loaded only when a target uses it: a broker for a local Postgres never
 * holds the workspace client in memory, nor a Databricks broker the command runner.
 */
const builtIn: ProviderFactories = {
  async databricks(env, { clock }, target) {
    const [{ databricksSettingsFromEnv }, { sharedWorkspaceAuth }, { DatabricksProvider }] =
      await Promise.all([
        import('../../shared/databricks/lakebase-settings.js'),
        import('../../shared/databricks/auth/shared-auth.js'),
        import('./databricks.js'),
      ])
    const settings = databricksSettingsFromEnv(env, { claims: target.claims })
    // Shared: targets on one workspace, and model serving in the same process, sign in once.
    const auth = await sharedWorkspaceAuth(settings.workspace, { clock })
    return new DatabricksProvider({ settings, auth, clock })
  },
  async static(env, { clock }) {
    const { StaticProvider } = await import('./static.js')
    return new StaticProvider(env, clock)
  },
  async command(env, { clock }) {
    const { CommandProvider } = await import('./command.js')
    return new CommandProvider(env, clock)
  },
}

/** The provider a target names, built from its environment; config errors throw at start-up. */
export async function createProvider(
  target: TargetConfig,
  deps: ProviderDeps & { factories?: ProviderFactories | undefined },
): Promise<CredentialProvider> {
  const factory = deps.factories?.[target.provider] ?? builtIn[target.provider]
  if (!factory) {
    throw new ConfigError(
      `the ${target.provider} provider is not available in this process`,
      target.provider === 'embedded'
        ? 'run `npm start`, which runs the embedded Postgres'
        : undefined,
    )
  }
  try {
    if (target.claims !== undefined && target.provider !== 'databricks') {
      throw new ConfigError(
        `only a databricks target takes claims; remove them from "${target.name}"`,
      )
    }
    return await factory(target.env, deps, target)
  } catch (err) {
    // Providers check their settings when built; any failure here is a configuration error.
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`target "${target.name}" (${target.provider}): ${(err as Error).message}`)
  }
}
