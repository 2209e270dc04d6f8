import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { METRICS, SPANS } from '../../shared/client/telemetry.js'
import { startTestBroker, staticBrokerEnv, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { lakebaseLike } from '../support/lakebase-like.js'
import {
  metricsIn,
  type OtlpReceiver,
  type Received,
  spansIn,
  startOtlpReceiver,
} from '../support/otlp-receiver.js'
import { createTestDatabase } from '../support/postgres.js'
import { ROOT, type Spawned, spawnTs } from '../support/process.js'

/**
 * The servers install the OpenTelemetry SDK when the environment names an OTLP collector, as
 * Databricks Apps do with app telemetry on: each test starts a real command against a collector
 * written for it (OTLP/HTTP with protobuf bodies, or OTLP/gRPC), stops it with SIGTERM, and reads
 * what arrived, decoded by the protocol's own definitions.
 */

/** The exporters' own timeout in that test: far past the bound, so that only the bound can end it. */
const EXPORTER_TIMEOUT_MS = 60_000
const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

function start(command: string, env: Record<string, string | undefined>): Spawned {
  const child = spawnTs('cli/main.ts', [command], env)
  cleanup.push(() => child.kill('SIGKILL'))
  return child
}

async function receiver(...args: Parameters<typeof startOtlpReceiver>): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver(...args)
  cleanup.push(() => r.close())
  return r
}

/** Those of `secrets` found in the requests, as bytes on the wire or decoded. */
function leaked(received: Received[], secrets: string[]): string[] {
  const seen = received.map((r) => r.raw.toString('latin1') + JSON.stringify(r.body)).join('\n')
  return secrets.filter((s) => seen.includes(s))
}

describe('telemetry export from the servers (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('serve, as Databricks Apps run it, over http/protobuf: refresh and statement spans and the metrics arrive with the resource attributes, and no secret', async () => {
    const principal = randomUUID()
    const lakebase = await lakebaseLike({
      lifetimeS: 3600,
      identity: principal,
      grants: 'apps',
      workspace: { clientId: principal },
    })
    cleanup.push(() => lakebase.close())
    const collector = await receiver('http')
    const port = await freePort()
    /** A parameter value: data, which must not reach a span either. */
    const value = `value-${randomUUID()}`
    const child = start('serve', {
      ...lakebase.workspace.env({ auth: 'oauth-m2m' }),
      PGHOST: lakebase.db.host,
      PGPORT: String(lakebase.db.port),
      PGDATABASE: lakebase.db.database,
      PGUSER: principal,
      PGSSLMODE: 'disable',
      DATABRICKS_APP_NAME: 'orders-app',
      DATABRICKS_APP_PORT: String(port),
      XDG_CONFIG_HOME: await tempDir('lakebase-otel-xdg-'),
      BROKER_DRAIN_S: '0',
      // What the Apps runtime sets with telemetry on, but HTTP: the specification's default.
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_SERVICE_NAME: 'orders-app',
      OTEL_RESOURCE_ATTRIBUTES: 'workspace.id=1234567890,app.name=orders-app',
    })
    await child.waitFor('lakebase app listening', 60_000)
    expect(child.output()).toContain('"traces":"http/protobuf","metrics":"http/protobuf"')

    const created = await fetch(`http://127.0.0.1:${port}/api/preferences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-email': 'alice@example.com' },
      body: JSON.stringify({ preference_key: 'theme', preference_value: { mode: value } }),
    })
    expect(created.status).toBe(201)
    expect(await child.kill('SIGTERM')).toBe(0)

    // Everything came as protobuf over HTTP, to the specification's paths.
    expect(new Set(collector.received.map((r) => `${r.path} ${r.contentType}`))).toEqual(
      new Set(['/v1/traces application/x-protobuf', '/v1/metrics application/x-protobuf']),
    )
    const spans = spansIn(collector.received)
    const refreshes = spans.filter((s) => s.name === SPANS.refresh)
    expect(new Set(refreshes.map((s) => s.attributes['lakebase.credential.holder']))).toEqual(
      new Set(['broker', 'client']),
    )
    const insert = spans.find(
      (s) => s.name === SPANS.query && String(s.attributes['db.query.text']).startsWith('insert'),
    )
    expect(insert?.attributes).toMatchObject({ 'db.system.name': 'postgresql' })
    const names = new Set(metricsIn(collector.received).map((m) => m.name))
    for (const name of [
      METRICS.queryDuration,
      METRICS.refreshDuration,
      METRICS.refreshes,
      METRICS.timeToExpiry,
    ]) {
      expect(names).toContain(name)
    }

    const resources = [...spans, ...metricsIn(collector.received)].map((x) => x.resource)
    for (const resource of resources) {
      expect(resource).toMatchObject({
        'service.name': 'orders-app',
        'workspace.id': '1234567890',
        'app.name': 'orders-app',
        'lakebase.command': 'serve',
        'telemetry.sdk.language': 'nodejs',
      })
    }
    const secrets = [lakebase.workspace.clientSecret, ...lakebase.workspace.minted, value]
    expect(lakebase.workspace.minted.length).toBeGreaterThanOrEqual(2)
    expect(leaked(collector.received, secrets)).toEqual([])
    // The same search finds what is there.
    expect(leaked(collector.received, ['orders-app', SPANS.query])).toEqual([
      'orders-app',
      SPANS.query,
    ])
    for (const secret of secrets) expect(child.output()).not.toContain(secret)
  }, 90_000)

  it('broker over gRPC: metrics leave every OTEL_METRIC_EXPORT_INTERVAL, the refresh spans on stop, without the password or the client token', async () => {
    const collector = await receiver('grpc')
    const port = await freePort()
    const password = `pw-${randomUUID()}`
    const token = `token-${randomUUID()}`
    const child = start('broker', {
      BROKER_PORT: String(port),
      BROKER_TOKEN: token,
      BROKER_DRAIN_S: '0',
      PGUSER: 'u',
      PGPASSWORD: password,
      PGSSLMODE: 'disable',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_SERVICE_NAME: 'credential-broker',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
    })
    await child.waitFor('credential refreshed')
    const served = await fetch(`http://127.0.0.1:${port}/v1/credentials`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(((await served.json()) as { password: string }).password).toBe(password)

    // While it runs, the metrics arrive on their own, within the interval.
    const periodic = await collector.next(
      (r) => r.signal === 'metrics' && metricsIn([r]).some((m) => m.name === METRICS.refreshes),
    )
    expect(periodic.transport).toBe('grpc')
    expect(spansIn(collector.received)).toEqual([])

    expect(await child.kill('SIGTERM')).toBe(0)
    expect(new Set(collector.received.map((r) => r.path))).toEqual(
      new Set([
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
      ]),
    )
    const refresh = spansIn(collector.received).find((s) => s.name === SPANS.refresh)
    expect(refresh).toMatchObject({
      attributes: { 'lakebase.credential.holder': 'broker', 'lakebase.target': 'default' },
      resource: { 'service.name': 'credential-broker', 'lakebase.command': 'broker' },
    })
    expect(leaked(collector.received, [password, token])).toEqual([])
  }, 60_000)

  it('a collector that never answers does not hold the stop: the capped shutdown ends it, and says so', async () => {
    // It takes every connection and never answers, so each export runs to its own timeout.
    const held = new Set<Socket>()
    const silent = createServer((socket) => held.add(socket)).listen(0, '127.0.0.1')
    await once(silent, 'listening')
    cleanup.push(async () => {
      for (const socket of held) socket.destroy()
      silent.close()
    })
    const child = start('broker', {
      BROKER_PORT: String(await freePort()),
      BROKER_TOKEN: `token-${randomUUID()}`,
      BROKER_DRAIN_S: '0',
      PGUSER: 'u',
      PGPASSWORD: `pw-${randomUUID()}`,
      PGSSLMODE: 'disable',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: String(EXPORTER_TIMEOUT_MS),
    })
    await child.waitFor('credential refreshed')
    // The exporters' own timeout is far longer: only the capped shutdown lets it exit (the test's
    // timeout catches a hang; how long the cap is, is the export's unit tests' business).
    expect(await child.kill('SIGTERM')).toBe(0)
    expect(child.output()).toContain('the last spans and metrics did not leave in time')
  }, 60_000)

  it('functions with a traces endpoint alone: spans go to that URL as given, and no metrics are exported', async () => {
    const db = await createTestDatabase('otel')
    cleanup.push(() => db.drop())
    const brokerEnv = staticBrokerEnv(db)
    const { broker, url } = await startTestBroker(brokerEnv)
    cleanup.push(() => broker.close())
    const collector = await receiver('http', { '/collector/spans': 'traces' })
    const port = await freePort()
    const child = start('functions', {
      PORT: String(port),
      LAKEBASE_BROKER_URL: url,
      LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/collector/spans`,
    })
    await child.waitFor('functions listening')
    expect(child.output()).toContain('"traces":"http/protobuf","metrics":"off"')
    expect((await fetch(`http://127.0.0.1:${port}/api/health/database`)).status).toBe(200)
    expect(await child.kill('SIGTERM')).toBe(0)

    expect(collector.received.map((r) => r.path)).toEqual(
      collector.received.map(() => '/collector/spans'),
    )
    const spans = spansIn(collector.received)
    expect(spans.map((s) => s.name)).toContain(SPANS.query)
    expect(spans.find((s) => s.name === SPANS.refresh)).toMatchObject({
      attributes: { 'lakebase.credential.holder': 'client' },
      // No OTEL_SERVICE_NAME: ours.
      resource: { 'service.name': 'lakebase-broker', 'lakebase.command': 'functions' },
    })
    expect(leaked(collector.received, [brokerEnv.PGPASSWORD as string, TEST_CLIENT_TOKEN])).toEqual(
      [],
    )
  }, 60_000)
})

describe('the OpenTelemetry SDK stays out of the library', () => {
  /** Every entry of package.json's `exports`, as the TypeScript file it is built from. */
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, { default?: string }>
  }
  const entries = Object.values(pkg.exports)
    .flatMap((e) => (typeof e === 'object' && e.default ? [e.default] : []))
    .map((built) => join(ROOT, built.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')))

  /** The npm packages that importing `file` loads, seen by a resolve hook in a fresh process. */
  async function loadedBy(file: string): Promise<string[]> {
    const child = spawnTs('test/package/consumer/loaded-packages.mjs', [file], {})
    cleanup.push(() => child.kill('SIGKILL'))
    expect(await child.exited).toBe(0)
    return child.output().trim().split(/\s+/)
  }
  const sdk = (names: string[]) => names.filter((n) => /^@opentelemetry\/(?!api$)|^@grpc\//.test(n))

  it('no entry of the package loads any of it: @opentelemetry/api alone', async () => {
    expect(entries).toHaveLength(8)
    const loads = await Promise.all(entries.map(async (e) => ({ e, sdk: sdk(await loadedBy(e)) })))
    expect(loads).toEqual(entries.map((e) => ({ e, sdk: [] })))
    expect(await loadedBy(join(ROOT, 'shared/client/index.ts'))).toContain('@opentelemetry/api')
  }, 60_000)

  it('the same look sees it where the servers load it', async () => {
    expect(sdk(await loadedBy(join(ROOT, 'shared/process/telemetry-sdk.ts')))).toEqual([
      '@opentelemetry/resources',
      '@opentelemetry/sdk-metrics',
      '@opentelemetry/sdk-trace-node',
    ])
  })
})
