import { homedir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { databricksSettingsFromEnv } from '../../../shared/databricks/lakebase-settings.js'

const PROVISIONED = {
  DATABRICKS_HOST: 'https://dbc-a1b2.cloud.databricks.com',
  LAKEBASE_INSTANCE_NAME: 'orders-db',
}

describe('databricksSettingsFromEnv', () => {
  it('fills the documented defaults', () => {
    const settings = databricksSettingsFromEnv({ ...PROVISIONED, HOME: '/home/dev' })
    expect(settings).toEqual({
      workspace: {
        host: 'https://dbc-a1b2.cloud.databricks.com',
        token: undefined,
        clientId: undefined,
        clientSecret: undefined,
        authType: undefined,
        configProfile: undefined,
        configFile: '/home/dev/.databrickscfg',
        cliPath: 'databricks',
        azureClientId: undefined,
        azureClientSecret: undefined,
        azureTenantId: undefined,
        azureLoginHost: 'https://login.microsoftonline.com',
        azureCliPath: 'az',
      },
      target: { kind: 'provisioned', instanceName: 'orders-db' },
      postgres: {
        host: undefined,
        port: 5432,
        database: 'databricks_postgres',
        user: undefined,
        ssl: 'require',
      },
      credential: {},
    })
  })

  it('reads LAKEBASE_CREDENTIAL_TTL_S for an Autoscaling endpoint', () => {
    const settings = databricksSettingsFromEnv({
      DATABRICKS_HOST: 'https://dbc-a1b2.cloud.databricks.com',
      LAKEBASE_ENDPOINT: 'projects/p/branches/b/endpoints/e',
      LAKEBASE_CREDENTIAL_TTL_S: '900',
    })
    expect(settings.credential).toEqual({ ttlS: 900 })
  })

  it.each(['299', '3601', '0', '-300', '600.5', 'ten minutes'])(
    'refuses LAKEBASE_CREDENTIAL_TTL_S=%s as a configuration error naming the range',
    (ttl) => {
      expect(() =>
        databricksSettingsFromEnv({
          DATABRICKS_HOST: 'https://dbc-a1b2.cloud.databricks.com',
          LAKEBASE_ENDPOINT: 'projects/p/branches/b/endpoints/e',
          LAKEBASE_CREDENTIAL_TTL_S: ttl,
        }),
      ).toThrow(
        /LAKEBASE_CREDENTIAL_TTL_S must be (300–3600 \(seconds\)|a whole number of seconds)/,
      )
    },
  )

  it('accepts both ends of the range', () => {
    for (const ttl of ['300', '3600']) {
      const settings = databricksSettingsFromEnv({
        DATABRICKS_HOST: 'https://dbc-a1b2.cloud.databricks.com',
        LAKEBASE_ENDPOINT: 'projects/p/branches/b/endpoints/e',
        LAKEBASE_CREDENTIAL_TTL_S: ttl,
      })
      expect(settings.credential.ttlS).toBe(Number(ttl))
    }
  })

  it('refuses LAKEBASE_CREDENTIAL_TTL_S for a Provisioned instance, whose credential call takes none', () => {
    expect(() =>
      databricksSettingsFromEnv({ ...PROVISIONED, LAKEBASE_CREDENTIAL_TTL_S: '600' }),
    ).toThrow(/LAKEBASE_CREDENTIAL_TTL_S applies to Lakebase Autoscaling/)
  })

  it('carries the claims the broker config file gave the target', () => {
    const claims = [{ permission_set: 'READ_ONLY' }]
    expect(databricksSettingsFromEnv(PROVISIONED, { claims }).credential).toEqual({ claims })
  })

  it('finds ~/.databrickscfg in the user home directory when HOME is unset', () => {
    expect(databricksSettingsFromEnv(PROVISIONED).workspace.configFile).toBe(
      join(homedir(), '.databrickscfg'),
    )
  })

  it('reads every workspace variable and expands ~ in DATABRICKS_CONFIG_FILE', () => {
    const settings = databricksSettingsFromEnv({
      ...PROVISIONED,
      HOME: '/home/dev',
      DATABRICKS_TOKEN: 'dapi-x',
      DATABRICKS_CLIENT_ID: 'id',
      DATABRICKS_CLIENT_SECRET: 'secret',
      DATABRICKS_AUTH_TYPE: 'oauth-m2m',
      DATABRICKS_CONFIG_PROFILE: 'dev',
      DATABRICKS_CONFIG_FILE: '~/cfg/databricks.ini',
      DATABRICKS_CLI_PATH: '/opt/databricks',
      ARM_CLIENT_ID: 'az-id',
      ARM_CLIENT_SECRET: 'az-secret',
      ARM_TENANT_ID: 'tenant',
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us/',
      AZURE_CLI_PATH: '/opt/az',
    })
    expect(settings.workspace).toEqual({
      host: 'https://dbc-a1b2.cloud.databricks.com',
      token: 'dapi-x',
      clientId: 'id',
      clientSecret: 'secret',
      authType: 'oauth-m2m',
      configProfile: 'dev',
      configFile: '/home/dev/cfg/databricks.ini',
      cliPath: '/opt/databricks',
      azureClientId: 'az-id',
      azureClientSecret: 'az-secret',
      azureTenantId: 'tenant',
      azureLoginHost: 'https://login.microsoftonline.us',
      azureCliPath: '/opt/az',
    })
  })

  it('prefers the PG* variables that Databricks Apps set over the LAKEBASE_* ones', () => {
    const settings = databricksSettingsFromEnv({
      ...PROVISIONED,
      PGHOST: 'pg.example',
      LAKEBASE_HOST: 'lb.example',
      PGPORT: '6543',
      LAKEBASE_PORT: '7000',
      PGDATABASE: 'app',
      LAKEBASE_DATABASE: 'other',
      PGUSER: 'a1b2c3d4-0000-4000-8000-000000000000',
      PGSSLMODE: 'verify-full',
    })
    expect(settings.postgres).toEqual({
      host: 'pg.example',
      port: 6543,
      database: 'app',
      user: 'a1b2c3d4-0000-4000-8000-000000000000',
      ssl: 'verify-full',
    })
  })

  it('falls back to the LAKEBASE_* variables', () => {
    const settings = databricksSettingsFromEnv({
      ...PROVISIONED,
      LAKEBASE_HOST: 'lb.example',
      LAKEBASE_PORT: '7000',
      LAKEBASE_DATABASE: 'other',
    })
    expect(settings.postgres).toMatchObject({ host: 'lb.example', port: 7000, database: 'other' })
  })

  it('treats empty variables as unset', () => {
    const settings = databricksSettingsFromEnv({
      ...PROVISIONED,
      DATABRICKS_TOKEN: '',
      PGPORT: ' ',
    })
    expect(settings.workspace.token).toBeUndefined()
    expect(settings.postgres.port).toBe(5432)
  })

  it('reads LAKEBASE_ENDPOINT as an Autoscaling target', () => {
    const endpoint = 'projects/p1/branches/main/endpoints/ep1'
    const settings = databricksSettingsFromEnv({
      DATABRICKS_HOST: 'https://dbc.cloud.databricks.com',
      LAKEBASE_ENDPOINT: endpoint,
    })
    expect(settings.target).toEqual({ kind: 'autoscaling', endpoint })
  })

  it('requires one of LAKEBASE_INSTANCE_NAME and LAKEBASE_ENDPOINT, naming both', () => {
    expect(() =>
      databricksSettingsFromEnv({ DATABRICKS_HOST: 'https://dbc.cloud.databricks.com' }),
    ).toThrow(/LAKEBASE_INSTANCE_NAME .*LAKEBASE_ENDPOINT/)
  })

  it('refuses both LAKEBASE_INSTANCE_NAME and LAKEBASE_ENDPOINT, naming both', () => {
    expect(() =>
      databricksSettingsFromEnv({
        ...PROVISIONED,
        LAKEBASE_ENDPOINT: 'projects/p/branches/b/endpoints/e',
      }),
    ).toThrow(/only one of LAKEBASE_INSTANCE_NAME .*LAKEBASE_ENDPOINT/)
  })

  it('rejects a LAKEBASE_ENDPOINT that is not an endpoint path', () => {
    expect(() =>
      databricksSettingsFromEnv({
        DATABRICKS_HOST: 'https://x.cloud.databricks.com',
        LAKEBASE_ENDPOINT: 'ep1',
      }),
    ).toThrow(/LAKEBASE_ENDPOINT must look like projects\/<p>\/branches\/<b>\/endpoints\/<e>/)
  })

  it('rejects a plain-http workspace that is not loopback', () => {
    expect(() =>
      databricksSettingsFromEnv({
        ...PROVISIONED,
        DATABRICKS_HOST: 'http://dbc.cloud.databricks.com',
      }),
    ).toThrow(/DATABRICKS_HOST must use https/)
  })

  it.each([
    ['PGPORT', '0', /PGPORT must be 1–65535/],
    ['PGPORT', 'abc', /PGPORT must be a port number/],
    ['PGSSLMODE', 'sometimes', /PGSSLMODE must be one of disable, prefer, require/],
    [
      'DATABRICKS_AUTH_TYPE',
      'azure-msi',
      /DATABRICKS_AUTH_TYPE must be one of pat, oauth-m2m, azure-client-secret, azure-cli, databricks-cli/,
    ],
  ])('rejects %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => databricksSettingsFromEnv({ ...PROVISIONED, [name]: value })).toThrow(message)
  })

  it('refuses PGUSER=token and explains the trap', () => {
    expect(() => databricksSettingsFromEnv({ ...PROVISIONED, PGUSER: 'token' })).toThrow(
      /PGUSER is "token", but Lakebase logs in as the identity that owns the token/,
    )
  })

  it('never repeats a secret value in its errors', () => {
    const attempt = () =>
      databricksSettingsFromEnv({
        ...PROVISIONED,
        DATABRICKS_TOKEN: 'dapi-very-secret',
        DATABRICKS_CLIENT_SECRET: 'dose-very-secret',
        PGPORT: 'dapi-very-secret',
      })
    expect(attempt).toThrow(/PGPORT/)
    expect(attempt).not.toThrow(/very-secret/)
  })
})
