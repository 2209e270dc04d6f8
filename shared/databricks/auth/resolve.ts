import type { Clock } from '../../client/clock.js'
import { type ConfigProfiles, readDatabricksConfig } from '../config-file.js'
import { normaliseWorkspaceHost } from '../host.js'
import type { WorkspaceAuth } from '../workspace-auth.js'
import type { WorkspaceHttpOptions } from '../workspace-http.js'
import {
  DEFAULT_AZURE_LOGIN_HOST,
  WORKSPACE_AUTH_TYPES,
  type WorkspaceAuthSettings,
  type WorkspaceAuthType,
} from '../workspace-settings.js'
import { azureCliTokenSource } from './azure-cli.js'
import { azureClientSecretTokenSource } from './azure-client-secret.js'
import { CachedTokenAuth } from './cached-token.js'
import { databricksCliTokenSource } from './databricks-cli.js'
import { oauthM2mTokenSource } from './oauth-m2m.js'
import { PatAuth } from './pat.js'

/** What the auth methods are built with; each has a production default. */
export interface WorkspaceAuthDeps extends WorkspaceHttpOptions {
  clock?: Clock
  /** Overrides `WORKSPACE_TOKEN_REFRESH_FRACTION`. */
  refreshFraction?: number
  /** Overrides `CLI_TIMEOUT_MS` and `AZURE_CLI_TIMEOUT_MS`. */
  cliTimeoutMs?: number
}

/** The credentials the chosen method signs in with (secrets included: never log this). */
export type WorkspaceCredentials =
  | { type: 'pat'; token: string }
  | { type: 'oauth-m2m'; clientId: string; clientSecret: string }
  | { type: 'azure-client-secret'; tenantId: string; clientId: string; clientSecret: string }
  | { type: 'azure-cli'; tenantId: string | undefined }
  | { type: 'databricks-cli'; profile: string | undefined }
type Credentials = WorkspaceCredentials

interface Choice {
  credentials: Credentials
  /** `pat`, `oauth-m2m`, `databricks-cli`, or `profile:<name>/<type>`. */
  method: string
}

/** The method chosen for a workspace, before anything is built from it. */
export interface WorkspaceAuthPlan extends Choice {
  /** The workspace URL, normalised. */
  host: string
}

interface Profile {
  name: string
  host: string | undefined
  values: Readonly<Record<string, string>>
}

/**
 * Picks the workspace authentication method, once, at start-up, by this precedence (the first
 * that applies wins, and `method` names it):
 *
 * 1. `DATABRICKS_AUTH_TYPE` (`pat`, `oauth-m2m`, `azure-client-secret`, `azure-cli`,
 *    `databricks-cli`) forces a method; its credentials come from the environment, else from the
 *    config profile.
 * 2. `DATABRICKS_TOKEN` → `pat`.
 * 3. `DATABRICKS_CLIENT_ID` + `DATABRICKS_CLIENT_SECRET` → `oauth-m2m`.
 * 4. `ARM_CLIENT_ID` + `ARM_CLIENT_SECRET` + `ARM_TENANT_ID` → `azure-client-secret` (an Entra ID
 *    service principal, as the Databricks SDKs read it; all three or none).
 * 5. A config profile → `profile:<name>/<method>`: the section `DATABRICKS_CONFIG_PROFILE` names
 *    (it must exist), else `[DEFAULT]` but only when its `host` is this workspace. Within it:
 *    `auth_type` if set, else `token` → pat, else `client_id` + `client_secret` → oauth-m2m,
 *    else `azure_client_id` + `azure_client_secret` + `azure_tenant_id` → azure-client-secret,
 *    else the CLI with `--profile`.
 * 6. The Databricks CLI, `databricks auth token --host <host>` → `databricks-cli`.
 *
 * `azure-cli` (`az account get-access-token`) is used only when forced (rule 1, or a profile's
 * `auth_type`): the SDKs probe `az` on every Azure host, which would run a program at start-up
 * that most deployments do not have, and a failed probe would hide which method was meant.
 *
 * The Databricks Apps trap: an app always has `DATABRICKS_CLIENT_ID`/`SECRET` (its service
 * principal), so a developer's `DATABRICKS_TOKEN` next to them wins by rule 2 and the method says
 * `pat`. Set `DATABRICKS_AUTH_TYPE=oauth-m2m` to sign in as the app instead. Likewise an Azure VM
 * with `ARM_*` set for Terraform signs in as that principal unless a Databricks credential is set.
 *
 * The host is `DATABRICKS_HOST`, else the profile's `host`.
 *
 * @throws Error (a configuration error) when the chosen method lacks a credential, the profile
 *   is missing or is for another workspace, or no host is known. Messages name settings, never
 *   their values.
 */
export async function resolveWorkspaceAuth(
  settings: WorkspaceAuthSettings,
  deps: WorkspaceAuthDeps = {},
): Promise<WorkspaceAuth> {
  return buildWorkspaceAuth(await planWorkspaceAuth(settings), settings, deps)
}

/**
 * The first half of {@link resolveWorkspaceAuth}: which method, with which credentials, for which
 * host, by the precedence above. Reading a config profile is its only I/O.
 *
 * @throws Error (a configuration error), as resolveWorkspaceAuth.
 */
export async function planWorkspaceAuth(
  settings: WorkspaceAuthSettings,
): Promise<WorkspaceAuthPlan> {
  let profilePromise: Promise<Profile | undefined> | undefined
  const profile = () => {
    profilePromise ??= selectProfile(settings)
    return profilePromise
  }

  const choice = await choose(settings, profile)
  const host = settings.host ?? (await profile())?.host
  if (host === undefined) {
    throw new Error(
      'no Databricks workspace: set DATABRICKS_HOST, or DATABRICKS_CONFIG_PROFILE to a profile with a host',
    )
  }
  return { host, ...choice }
}

async function choose(
  settings: WorkspaceAuthSettings,
  profile: () => Promise<Profile | undefined>,
): Promise<Choice> {
  if (settings.authType !== undefined) return forced(settings.authType, settings, profile)
  if (settings.token !== undefined) {
    return { credentials: { type: 'pat', token: settings.token }, method: 'pat' }
  }
  const m2m = envClientCredentials(settings)
  if (m2m !== undefined) return { credentials: m2m, method: 'oauth-m2m' }
  const azure = envAzureCredentials(settings)
  if (azure !== undefined) return { credentials: azure, method: 'azure-client-secret' }
  const selected = await profile()
  if (selected !== undefined) return fromProfile(selected)
  return { credentials: { type: 'databricks-cli', profile: undefined }, method: 'databricks-cli' }
}

async function forced(
  type: WorkspaceAuthType,
  settings: WorkspaceAuthSettings,
  profile: () => Promise<Profile | undefined>,
): Promise<Choice> {
  switch (type) {
    case 'pat': {
      if (settings.token !== undefined) {
        return { credentials: { type: 'pat', token: settings.token }, method: 'pat' }
      }
      const selected = await profile()
      const token = selected?.values.token
      if (selected === undefined || token === undefined) {
        throw new Error(
          'DATABRICKS_AUTH_TYPE is pat, but neither DATABRICKS_TOKEN nor a config profile token is set',
        )
      }
      return { credentials: { type: 'pat', token }, method: `profile:${selected.name}/pat` }
    }
    case 'oauth-m2m': {
      const m2m = envClientCredentials(settings)
      if (m2m !== undefined) return { credentials: m2m, method: 'oauth-m2m' }
      const selected = await profile()
      const fromFile = selected === undefined ? undefined : profileClientCredentials(selected)
      if (selected === undefined || fromFile === undefined) {
        throw new Error(
          'DATABRICKS_AUTH_TYPE is oauth-m2m, but neither DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET nor a config profile client_id + client_secret are set',
        )
      }
      return { credentials: fromFile, method: `profile:${selected.name}/oauth-m2m` }
    }
    case 'azure-client-secret': {
      const azure = envAzureCredentials(settings)
      if (azure !== undefined) return { credentials: azure, method: 'azure-client-secret' }
      const selected = await profile()
      const fromFile = selected === undefined ? undefined : profileAzureCredentials(selected)
      if (selected === undefined || fromFile === undefined) {
        throw new Error(
          'DATABRICKS_AUTH_TYPE is azure-client-secret, but neither ARM_CLIENT_ID + ARM_CLIENT_SECRET + ARM_TENANT_ID nor a config profile azure_client_id + azure_client_secret + azure_tenant_id are set',
        )
      }
      return { credentials: fromFile, method: `profile:${selected.name}/azure-client-secret` }
    }
    case 'azure-cli': {
      if (settings.configProfile === undefined) {
        return { credentials: azureCli(settings, undefined), method: 'azure-cli' }
      }
      const selected = await profile()
      return {
        credentials: azureCli(settings, selected),
        method: `profile:${selected?.name ?? settings.configProfile}/azure-cli`,
      }
    }
    case 'databricks-cli': {
      if (settings.configProfile === undefined) {
        return {
          credentials: { type: 'databricks-cli', profile: undefined },
          method: 'databricks-cli',
        }
      }
      const selected = await profile()
      const name = selected?.name ?? settings.configProfile
      return {
        credentials: { type: 'databricks-cli', profile: name },
        method: `profile:${name}/databricks-cli`,
      }
    }
  }
}

function envClientCredentials(settings: WorkspaceAuthSettings): Credentials | undefined {
  const { clientId, clientSecret } = settings
  if (clientId === undefined && clientSecret === undefined) return undefined
  if (clientId === undefined || clientSecret === undefined) {
    const [set, unset] =
      clientId === undefined
        ? ['DATABRICKS_CLIENT_SECRET', 'DATABRICKS_CLIENT_ID']
        : ['DATABRICKS_CLIENT_ID', 'DATABRICKS_CLIENT_SECRET']
    throw new Error(`${set} is set but ${unset} is not; OAuth M2M needs both`)
  }
  return { type: 'oauth-m2m', clientId, clientSecret }
}

function envAzureCredentials(settings: WorkspaceAuthSettings): Credentials | undefined {
  const given = {
    ARM_CLIENT_ID: settings.azureClientId,
    ARM_CLIENT_SECRET: settings.azureClientSecret,
    ARM_TENANT_ID: settings.azureTenantId,
  }
  const unset = Object.entries(given).filter(([, value]) => value === undefined)
  // ARM_TENANT_ID alone is common (it scopes `az`); only a client id or secret means a principal.
  if (given.ARM_CLIENT_ID === undefined && given.ARM_CLIENT_SECRET === undefined) return undefined
  if (unset.length > 0) {
    throw new Error(
      `${unset.map(([name]) => name).join(' and ')} not set; an Entra ID service principal (azure-client-secret) needs ARM_CLIENT_ID, ARM_CLIENT_SECRET and ARM_TENANT_ID`,
    )
  }
  return {
    type: 'azure-client-secret',
    tenantId: given.ARM_TENANT_ID as string,
    clientId: given.ARM_CLIENT_ID as string,
    clientSecret: given.ARM_CLIENT_SECRET as string,
  }
}

function profileAzureCredentials(profile: Profile): Credentials | undefined {
  const {
    azure_client_id: clientId,
    azure_client_secret: clientSecret,
    azure_tenant_id: tenantId,
  } = profile.values
  if (clientId === undefined || clientSecret === undefined || tenantId === undefined) {
    return undefined
  }
  return { type: 'azure-client-secret', tenantId, clientId, clientSecret }
}

function azureCli(settings: WorkspaceAuthSettings, profile: Profile | undefined): Credentials {
  return { type: 'azure-cli', tenantId: settings.azureTenantId ?? profile?.values.azure_tenant_id }
}

function fromProfile(profile: Profile): Choice {
  const declared = profile.values.auth_type
  if (declared !== undefined && !isAuthType(declared)) {
    throw new Error(
      `profile ${profile.name} has auth_type ${declared}, which this broker does not support; use one of ${WORKSPACE_AUTH_TYPES.join(', ')}`,
    )
  }
  const token = profile.values.token
  const m2m = profileClientCredentials(profile)
  const method = (type: WorkspaceAuthType) => `profile:${profile.name}/${type}`
  if (declared === 'pat' || (declared === undefined && token !== undefined)) {
    if (token === undefined)
      throw new Error(`profile ${profile.name} has auth_type pat but no token`)
    return { credentials: { type: 'pat', token }, method: method('pat') }
  }
  if (declared === 'oauth-m2m' || (declared === undefined && m2m !== undefined)) {
    if (m2m === undefined) {
      throw new Error(
        `profile ${profile.name} has auth_type oauth-m2m but not both client_id and client_secret`,
      )
    }
    return { credentials: m2m, method: method('oauth-m2m') }
  }
  const azure = profileAzureCredentials(profile)
  if (declared === 'azure-client-secret' || (declared === undefined && azure !== undefined)) {
    if (azure === undefined) {
      throw new Error(
        `profile ${profile.name} has auth_type azure-client-secret but not all of azure_client_id, azure_client_secret and azure_tenant_id`,
      )
    }
    return { credentials: azure, method: method('azure-client-secret') }
  }
  if (declared === 'azure-cli') {
    return {
      credentials: { type: 'azure-cli', tenantId: profile.values.azure_tenant_id },
      method: method('azure-cli'),
    }
  }
  return {
    credentials: { type: 'databricks-cli', profile: profile.name },
    method: method('databricks-cli'),
  }
}

function profileClientCredentials(profile: Profile): Credentials | undefined {
  const { client_id: clientId, client_secret: clientSecret } = profile.values
  if (clientId === undefined || clientSecret === undefined) return undefined
  return { type: 'oauth-m2m', clientId, clientSecret }
}

/**
 * The profile that applies, if any. An explicitly named profile must exist and must not be for
 * another workspace. `[DEFAULT]` applies only when its host is ours (or ours is unset), so that a
 * developer's default login is never sent to a different workspace.
 */
async function selectProfile(settings: WorkspaceAuthSettings): Promise<Profile | undefined> {
  const profiles: ConfigProfiles | undefined = await readDatabricksConfig(settings.configFile)
  const named = settings.configProfile
  if (named !== undefined) {
    const values = profiles?.get(named)
    if (values === undefined) {
      throw new Error(
        profiles === undefined
          ? `DATABRICKS_CONFIG_PROFILE is ${named}, but the config file ${settings.configFile} does not exist`
          : `DATABRICKS_CONFIG_PROFILE is ${named}, but ${settings.configFile} has no [${named}] section`,
      )
    }
    const host =
      values.host === undefined
        ? undefined
        : normaliseWorkspaceHost(values.host, `host in profile ${named}`)
    if (host !== undefined && settings.host !== undefined && host !== settings.host) {
      throw new Error(
        `profile ${named} is for ${host}, but DATABRICKS_HOST is ${settings.host}; make them agree or unset one`,
      )
    }
    return { name: named, host, values }
  }

  const values = profiles?.get('DEFAULT')
  if (values?.host === undefined) return undefined
  let host: string
  try {
    host = normaliseWorkspaceHost(values.host, 'host in profile DEFAULT')
  } catch (err) {
    // A broken DEFAULT for some other workspace is none of our business; only fail if we need it.
    if (settings.host !== undefined) return undefined
    throw err
  }
  if (settings.host !== undefined && host !== settings.host) return undefined
  return { name: 'DEFAULT', host, values }
}

/** The second half of {@link resolveWorkspaceAuth}: the auth object for a plan, fresh each call. */
export function buildWorkspaceAuth(
  plan: WorkspaceAuthPlan,
  settings: WorkspaceAuthSettings,
  deps: WorkspaceAuthDeps = {},
): WorkspaceAuth {
  const { credentials, method, host } = plan
  const cached = { method, host, clock: deps.clock, refreshFraction: deps.refreshFraction }
  switch (credentials.type) {
    case 'pat':
      return new PatAuth(host, credentials.token, method)
    case 'oauth-m2m':
      return new CachedTokenAuth({
        ...cached,
        source: oauthM2mTokenSource({ host, ...credentials }, deps),
      })
    case 'azure-client-secret':
      return new CachedTokenAuth({
        ...cached,
        source: azureClientSecretTokenSource(
          {
            tenantId: credentials.tenantId,
            clientId: credentials.clientId,
            clientSecret: credentials.clientSecret,
            loginHost: settings.azureLoginHost ?? DEFAULT_AZURE_LOGIN_HOST,
          },
          deps,
        ),
      })
    case 'azure-cli':
      return new CachedTokenAuth({
        ...cached,
        source: azureCliTokenSource({
          cliPath: settings.azureCliPath ?? 'az',
          tenantId: credentials.tenantId,
          timeoutMs: deps.cliTimeoutMs,
        }),
      })
    case 'databricks-cli':
      return new CachedTokenAuth({
        ...cached,
        source: databricksCliTokenSource({
          cliPath: settings.cliPath,
          host,
          profile: credentials.profile,
          configFile: settings.configFile,
          timeoutMs: deps.cliTimeoutMs,
        }),
      })
  }
}

function isAuthType(value: string): value is WorkspaceAuthType {
  return (WORKSPACE_AUTH_TYPES as readonly string[]).includes(value)
}
