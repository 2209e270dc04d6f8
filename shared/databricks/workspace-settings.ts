import { homedir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import type { Env } from '../process/env.js'
import { normaliseWorkspaceHost } from './host.js'

/** The workspace authentication methods that `DATABRICKS_AUTH_TYPE` (or a profile) may force. */
export const WORKSPACE_AUTH_TYPES = [
  'pat',
  'oauth-m2m',
  'azure-client-secret',
  'azure-cli',
  'databricks-cli',
] as const
export type WorkspaceAuthType = (typeof WORKSPACE_AUTH_TYPES)[number]

/** How to reach and sign in to the workspace: the inputs of `resolveWorkspaceAuth`. */
export interface WorkspaceAuthSettings {
  /** The workspace URL, normalised; undefined when a config profile is to supply it. */
  host: string | undefined
  token: string | undefined
  clientId: string | undefined
  clientSecret: string | undefined
  /** Forces one method instead of the precedence. */
  authType: WorkspaceAuthType | undefined
  /** The `~/.databrickscfg` section to use; undefined means `DEFAULT` if it matches the host. */
  configProfile: string | undefined
  configFile: string
  cliPath: string
  /** Entra ID service principal (`ARM_CLIENT_ID`, `ARM_CLIENT_SECRET`, `ARM_TENANT_ID`). */
  azureClientId?: string | undefined
  azureClientSecret?: string | undefined
  azureTenantId?: string | undefined
  /** The Entra ID sign-in origin, normalised; `https://login.microsoftonline.com` by default. */
  azureLoginHost?: string | undefined
  /** The Azure CLI binary: `AZURE_CLI_PATH`, else `az`. */
  azureCliPath?: string | undefined
}

/** Entra ID's sign-in origin in Azure's public cloud (the SDKs' `ARM_ENVIRONMENT=public`). */
export const DEFAULT_AZURE_LOGIN_HOST = 'https://login.microsoftonline.com'

/**
 * An optional string setting. Empty variables count as unset: `.env` files and app.yaml often
 * carry `NAME=` placeholders.
 */
export const optionalSetting = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z.string().trim().optional(),
)

/** The variables workspace authentication reads; extend it to parse more in the same pass. */
export const workspaceEnvSchema = z.object({
  DATABRICKS_HOST: optionalSetting,
  DATABRICKS_TOKEN: optionalSetting,
  DATABRICKS_CLIENT_ID: optionalSetting,
  DATABRICKS_CLIENT_SECRET: optionalSetting,
  DATABRICKS_AUTH_TYPE: optionalSetting.pipe(
    z
      .enum(WORKSPACE_AUTH_TYPES, { error: `must be one of ${WORKSPACE_AUTH_TYPES.join(', ')}` })
      .optional(),
  ),
  DATABRICKS_CONFIG_PROFILE: optionalSetting,
  DATABRICKS_CONFIG_FILE: optionalSetting,
  DATABRICKS_CLI_PATH: optionalSetting,
  ARM_CLIENT_ID: optionalSetting,
  ARM_CLIENT_SECRET: optionalSetting,
  ARM_TENANT_ID: optionalSetting,
  AZURE_AUTHORITY_HOST: optionalSetting,
  AZURE_CLI_PATH: optionalSetting,
  HOME: optionalSetting,
})
export type WorkspaceEnv = z.infer<typeof workspaceEnvSchema>

/**
 * The workspace settings from parsed variables.
 *
 * | setting | variables, first set wins | default |
 * |---|---|---|
 * | workspace | `DATABRICKS_HOST` (https://, or loopback http://) | from the config profile |
 * | credentials | `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID` + `DATABRICKS_CLIENT_SECRET`, `DATABRICKS_AUTH_TYPE` | see `resolveWorkspaceAuth` |
 * | config profile | `DATABRICKS_CONFIG_PROFILE`, `DATABRICKS_CONFIG_FILE` | `DEFAULT`, `~/.databrickscfg` |
 * | CLI | `DATABRICKS_CLI_PATH` | `databricks` |
 * | Entra ID service principal | `ARM_CLIENT_ID`, `ARM_CLIENT_SECRET`, `ARM_TENANT_ID` | — |
 * | Entra ID sign-in origin | `AZURE_AUTHORITY_HOST` (https://, or loopback http://) | `https://login.microsoftonline.com` |
 * | Azure CLI | `AZURE_CLI_PATH` | `az` |
 *
 * `AZURE_AUTHORITY_HOST` is the Azure Identity SDKs' own variable for another cloud's sign-in
 * origin (e.g. `https://login.microsoftonline.us`); tests point it at a loopback emulator.
 *
 * @throws Error (a configuration error) when `DATABRICKS_HOST` or `AZURE_AUTHORITY_HOST` is not
 *   an acceptable URL.
 */
export function workspaceAuthSettings(e: WorkspaceEnv): WorkspaceAuthSettings {
  const home = e.HOME ?? homedir()
  const configFile = e.DATABRICKS_CONFIG_FILE ?? join(home, '.databrickscfg')
  return {
    host: e.DATABRICKS_HOST === undefined ? undefined : normaliseWorkspaceHost(e.DATABRICKS_HOST),
    token: e.DATABRICKS_TOKEN,
    clientId: e.DATABRICKS_CLIENT_ID,
    clientSecret: e.DATABRICKS_CLIENT_SECRET,
    authType: e.DATABRICKS_AUTH_TYPE,
    configProfile: e.DATABRICKS_CONFIG_PROFILE,
    configFile: configFile.startsWith('~/') ? join(home, configFile.slice(2)) : configFile,
    cliPath: e.DATABRICKS_CLI_PATH ?? 'databricks',
    azureClientId: e.ARM_CLIENT_ID,
    azureClientSecret: e.ARM_CLIENT_SECRET,
    azureTenantId: e.ARM_TENANT_ID,
    azureLoginHost:
      e.AZURE_AUTHORITY_HOST === undefined
        ? DEFAULT_AZURE_LOGIN_HOST
        : normaliseWorkspaceHost(e.AZURE_AUTHORITY_HOST, 'AZURE_AUTHORITY_HOST'),
    azureCliPath: e.AZURE_CLI_PATH ?? 'az',
  }
}

/**
 * Reads the workspace settings from environment variables, once, at start-up; undefined when no
 * workspace is named (neither `DATABRICKS_HOST` nor `DATABRICKS_CONFIG_PROFILE` is set), so that
 * a developer's default login is never used by accident.
 *
 * @throws Error (a configuration error) naming each offending variable, never its value.
 */
export function workspaceAuthSettingsFromEnv(env: Env): WorkspaceAuthSettings | undefined {
  const parsed = workspaceEnvSchema.safeParse(env)
  if (!parsed.success) throw invalidSettings(parsed.error)
  const e = parsed.data
  if (e.DATABRICKS_HOST === undefined && e.DATABRICKS_CONFIG_PROFILE === undefined) return undefined
  return workspaceAuthSettings(e)
}

/** A settings error naming each variable and what is wrong, never the value. */
export function invalidSettings(error: z.ZodError): Error {
  const problems = error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`)
  return new Error(`invalid Databricks settings: ${problems.join('; ')}`)
}
