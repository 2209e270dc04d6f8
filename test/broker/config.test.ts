import { describe, expect, it } from 'vitest'
import { ConfigError, resolveBrokerConfig } from '../../broker/config.js'

const databricks = {
  DATABRICKS_HOST: 'https://example.cloud.databricks.com',
  LAKEBASE_INSTANCE_NAME: 'db',
}

describe('resolveBrokerConfig', () => {
  it('listens on 127.0.0.1:8990 with the contract defaults', () => {
    const config = resolveBrokerConfig({ ...databricks, HOME: '/home/alice' })
    expect(config.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8990 })
    expect(config.policy).toMatchObject({ refreshFraction: 0.5, minTtlMs: 15_000 })
    expect(config.targets).toEqual([
      expect.objectContaining({ name: 'default', provider: 'databricks' }),
    ])
    expect(config.clients).toEqual([])
    expect(config.tokenFile).toMatch(/lakebase-broker\/token$/)
  })

  it('puts the token file under XDG_CONFIG_HOME, or where BROKER_TOKEN_FILE says', () => {
    expect(resolveBrokerConfig({ ...databricks, XDG_CONFIG_HOME: '/x' }).tokenFile).toBe(
      '/x/lakebase-broker/token',
    )
    expect(resolveBrokerConfig({ ...databricks, BROKER_TOKEN_FILE: '/t' }).tokenFile).toBe('/t')
  })

  it.each([
    ['DATABRICKS_HOST', databricks, 'databricks'],
    ['PGPASSWORD', { PGPASSWORD: 'x', PGUSER: 'u' }, 'static'],
    ['LAKEBASE_CREDENTIAL_COMMAND', { LAKEBASE_CREDENTIAL_COMMAND: 'echo' }, 'command'],
    [
      'LAKEBASE_PROVIDER over DATABRICKS_HOST',
      { ...databricks, LAKEBASE_PROVIDER: 'static' },
      'static',
    ],
    ['DATABRICKS_HOST over PGPASSWORD', { ...databricks, PGPASSWORD: 'x' }, 'databricks'],
    [
      'LAKEBASE_INSTANCE_NAME alone (host from a profile)',
      { LAKEBASE_INSTANCE_NAME: 'db' },
      'databricks',
    ],
    [
      'LAKEBASE_ENDPOINT alone',
      { LAKEBASE_ENDPOINT: 'projects/p/branches/b/endpoints/e' },
      'databricks',
    ],
  ])('chooses the provider by %s', (_name, env, provider) => {
    expect(resolveBrokerConfig(env).targets[0]?.provider).toBe(provider)
  })

  it('uses the fallback provider only when nothing else is configured', () => {
    expect(resolveBrokerConfig({}, { fallbackProvider: 'embedded' }).targets[0]?.provider).toBe(
      'embedded',
    )
    expect(
      resolveBrokerConfig(databricks, { fallbackProvider: 'embedded' }).targets[0]?.provider,
    ).toBe('databricks')
  })

  it('refuses to start with nothing configured, naming what to set', () => {
    expect(() => resolveBrokerConfig({})).toThrow(ConfigError)
    try {
      resolveBrokerConfig({})
    } catch (err) {
      expect((err as ConfigError).suggestion).toContain('DATABRICKS_HOST')
    }
  })

  it.each([
    ['BROKER_REFRESH_FRACTION', '1.5'],
    ['BROKER_REFRESH_FRACTION', '0'],
    ['BROKER_MIN_TTL_S', '-1'],
    ['BROKER_PORT', 'eighty'],
    ['LAKEBASE_PROVIDER', 'vault'],
  ])('refuses %s=%s at start-up', (name, value) => {
    expect(() => resolveBrokerConfig({ ...databricks, [name]: value })).toThrow(ConfigError)
  })

  it('accepts a short minimum TTL and a custom fraction for short-lived tokens', () => {
    const config = resolveBrokerConfig({
      ...databricks,
      BROKER_MIN_TTL_S: '2',
      BROKER_REFRESH_FRACTION: '0.6',
    })
    expect(config.policy).toMatchObject({ minTtlMs: 2000, refreshFraction: 0.6 })
  })

  it('accepts BROKER_ALLOWED_HOSTS and the name it listens on as Host, never a wildcard', () => {
    const named = resolveBrokerConfig({
      ...databricks,
      BROKER_HOST: 'Broker.Internal',
      BROKER_ALLOWED_HOSTS: 'a.example, b.example',
    })
    expect(named.allowedHosts).toEqual(['a.example', 'b.example', 'broker.internal'])
    expect(resolveBrokerConfig({ ...databricks, BROKER_HOST: '0.0.0.0' }).allowedHosts).toEqual([])
  })

  it('listens on a unix socket when BROKER_SOCKET is set', () => {
    expect(resolveBrokerConfig({ ...databricks, BROKER_SOCKET: '/run/b.sock' }).listen).toEqual({
      kind: 'socket',
      path: '/run/b.sock',
    })
  })

  it('reads named targets and per-client tokens from BROKER_CONFIG', () => {
    const file = JSON.stringify({
      targets: { reporting: { env: { LAKEBASE_INSTANCE_NAME: 'reporting-db' } } },
      clients: [
        { name: 'functions', token: 'functions-token-0123456789', targets: ['default'] },
        { name: 'reports', token: 'reports-token-0123456789', targets: ['reporting'] },
      ],
    })
    const config = resolveBrokerConfig(
      { ...databricks, BROKER_CONFIG: '/etc/broker.json' },
      { readFile: () => file },
    )
    expect(config.targets.map((t) => [t.name, t.provider, t.env.LAKEBASE_INSTANCE_NAME])).toEqual([
      ['default', 'databricks', 'db'],
      ['reporting', 'databricks', 'reporting-db'],
    ])
    expect(config.clients.map((c) => [c.name, c.targets])).toEqual([
      ['functions', ['default']],
      ['reports', ['reporting']],
    ])
  })

  it('offers X-ro beside each Provisioned target X, giving way to a configured X-ro', () => {
    const file = JSON.stringify({
      targets: {
        reporting: { env: { LAKEBASE_INSTANCE_NAME: 'reporting-db', PGHOST: 'r.example' } },
        'reporting-ro': { env: { LAKEBASE_INSTANCE_NAME: 'reporting-db', PGHOST: 'rr.example' } },
        replica: { env: { LAKEBASE_READ_ONLY: 'true' } },
        local: { provider: 'static', env: { PGPASSWORD: 'pw' } },
        ['x'.repeat(62)]: { env: {} },
      },
    })
    const config = resolveBrokerConfig(
      { ...databricks, BROKER_CONFIG: '/etc/broker.json' },
      { readFile: () => file },
    )
    expect(config.companions).toEqual([
      {
        name: 'default-ro',
        primary: 'default',
        lookUp: false,
        absentReason: expect.stringMatching(/instance db has no readable secondaries/),
      },
    ])
    // A given host: the companion looks the instance's read_only_dns up when first asked.
    const hostGiven = resolveBrokerConfig({ ...databricks, PGHOST: 'db.example' }).companions
    expect(hostGiven).toEqual([expect.objectContaining({ name: 'default-ro', lookUp: true })])
  })

  it('names where a config file is wrong without quoting its secrets', () => {
    const file = JSON.stringify({
      clients: [{ name: 'x', token: 'short-secret', targets: ['default'] }],
    })
    try {
      resolveBrokerConfig({ ...databricks, BROKER_CONFIG: '/etc/b.json' }, { readFile: () => file })
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toContain('clients.0.token')
      expect((err as Error).message).not.toContain('short-secret')
    }
    try {
      resolveBrokerConfig(
        { ...databricks, BROKER_CONFIG: '/etc/b.json' },
        { readFile: () => '{"token": "leak-me' },
      )
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).not.toContain('leak-me')
    }
  })
})
