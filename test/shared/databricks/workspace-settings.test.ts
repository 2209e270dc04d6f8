import { describe, expect, it } from 'vitest'
import { workspaceAuthSettingsFromEnv } from '../../../shared/databricks/workspace-settings.js'

describe('workspaceAuthSettingsFromEnv', () => {
  it('names no workspace when neither DATABRICKS_HOST nor DATABRICKS_CONFIG_PROFILE is set', () => {
    expect(workspaceAuthSettingsFromEnv({ DATABRICKS_TOKEN: 'dapi-x', HOME: '/home/dev' })).toBe(
      undefined,
    )
    expect(workspaceAuthSettingsFromEnv({ DATABRICKS_HOST: ' ' })).toBe(undefined)
  })

  it('reads the workspace from DATABRICKS_HOST, normalised, with its credentials', () => {
    expect(
      workspaceAuthSettingsFromEnv({
        DATABRICKS_HOST: 'adb-1.2.azuredatabricks.net/?o=1',
        DATABRICKS_CLIENT_ID: 'id',
        DATABRICKS_CLIENT_SECRET: 'secret',
        HOME: '/home/dev',
      }),
    ).toEqual({
      host: 'https://adb-1.2.azuredatabricks.net',
      token: undefined,
      clientId: 'id',
      clientSecret: 'secret',
      authType: undefined,
      configProfile: undefined,
      configFile: '/home/dev/.databrickscfg',
      cliPath: 'databricks',
      azureClientId: undefined,
      azureClientSecret: undefined,
      azureTenantId: undefined,
      azureLoginHost: 'https://login.microsoftonline.com',
      azureCliPath: 'az',
    })
  })

  it('leaves the host to a named config profile', () => {
    expect(workspaceAuthSettingsFromEnv({ DATABRICKS_CONFIG_PROFILE: 'dev' })).toMatchObject({
      host: undefined,
      configProfile: 'dev',
    })
  })

  it('refuses a bad value naming the variable, never repeating a secret', () => {
    const attempt = () =>
      workspaceAuthSettingsFromEnv({ DATABRICKS_HOST: 'x', DATABRICKS_AUTH_TYPE: 'dapi-secret' })
    expect(attempt).toThrow(
      /DATABRICKS_AUTH_TYPE must be one of pat, oauth-m2m, azure-client-secret, azure-cli, databricks-cli/,
    )
    expect(attempt).not.toThrow(/dapi-secret/)
  })
})
