import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SUBCOMMANDS } from '../../../cli/subcommands.js'
import { ConfigError } from '../../../shared/process/config-error.js'
import { commandHelp } from '../../../shared/process/run-main.js'
import { parseSettings } from '../../../shared/process/settings.js'
import {
  type ExportPlan,
  exportPlan,
  type OtlpProtocol,
  startTelemetryExport,
  telemetrySettings,
} from '../../../shared/process/telemetry-export.js'
import { captureLogs } from '../../support/capture-logs.js'
import { ROOT } from '../../support/process.js'

const COLLECTOR = 'http://127.0.0.1:4318'
const plan = (env: Record<string, string>) => exportPlan(parseSettings(telemetrySettings, env))
const metrics = (protocol: OtlpProtocol, intervalMs = 60_000, timeoutMs = 30_000) => ({
  protocol,
  intervalMs,
  timeoutMs,
})

describe('exportPlan: what the OTEL_* variables ask to export', () => {
  it.each<[string, Record<string, string>, ExportPlan | undefined]>([
    ['nothing when no collector is named', {}, undefined],
    [
      'both signals over http/protobuf, the specification default, to the common endpoint',
      { OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR },
      { traces: 'http/protobuf', metrics: metrics('http/protobuf') },
    ],
    [
      'both over gRPC, as Databricks Apps set it',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4314', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      { traces: 'grpc', metrics: metrics('grpc') },
    ],
    [
      'spans alone when only their endpoint is named',
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${COLLECTOR}/v1/traces` },
      { traces: 'http/protobuf' },
    ],
    [
      "metrics alone, by their own protocol over the common one's",
      {
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:4317',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
      },
      { metrics: metrics('grpc') },
    ],
    [
      'no spans when their exporter is none',
      { OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR, OTEL_TRACES_EXPORTER: 'none' },
      { metrics: metrics('http/protobuf') },
    ],
    [
      'nothing when both exporters are none',
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
      },
      undefined,
    ],
    [
      'nothing when the SDK is disabled',
      { OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR, OTEL_SDK_DISABLED: 'true' },
      undefined,
    ],
    [
      'an export timeout cut to a shorter interval',
      { OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR, OTEL_METRIC_EXPORT_INTERVAL: '1000' },
      { traces: 'http/protobuf', metrics: metrics('http/protobuf', 1000, 1000) },
    ],
  ])('%s', (_name, env, expected) => {
    expect(plan(env)).toEqual(expected)
  })

  it.each([
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json', 'must be grpc or http/protobuf'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4317', 'must be an http:// or https:// URL'],
    ['OTEL_TRACES_EXPORTER', 'console', 'must be otlp or none'],
    ['OTEL_METRIC_EXPORT_INTERVAL', 'soon', 'must be a number'],
  ])('refuses %s=%s at start-up, naming the variable', (name, value, why) => {
    const parse = () => plan({ [name]: value })
    expect(parse).toThrow(ConfigError)
    expect(parse).toThrow(`${name} ${why}`)
  })

  it('never quotes the value refused: an endpoint may carry a key', () => {
    const parse = () => plan({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317/?api_key=s3cret-7' })
    expect(parse).toThrow('OTEL_EXPORTER_OTLP_ENDPOINT')
    expect(parse).not.toThrow('s3cret-7')
  })

  it('loads nothing and returns no stop when no collector is named', async () => {
    const logs = captureLogs()
    expect(await startTelemetryExport({}, { command: 'broker', logger: logs.logger })).toBe(
      undefined,
    )
    expect(logs.text()).toBe('')
  })
})

describe('which commands export', () => {
  it.each(['serve', 'functions', 'broker'])(
    '%s lists the OTEL_* settings in its --help',
    async (name) => {
      const { command } = await (SUBCOMMANDS[name] as (typeof SUBCOMMANDS)[string]).load()
      expect(command.telemetry).toBe(true)
      expect(commandHelp(command)).toContain('OTEL_EXPORTER_OTLP_ENDPOINT')
    },
  )

  it('a one-shot command does not', async () => {
    const { command } = await (SUBCOMMANDS.migrate as (typeof SUBCOMMANDS)[string]).load()
    expect(commandHelp(command)).not.toContain('OTEL_')
  })
})

describe('where the SDK is imported', () => {
  /** The source of everything that ships or runs, by path from the repository root. */
  const sources = ['cli', 'broker', 'functions', 'shared', 'testing', 'workers'].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => ({
        path: `${dir}/${file}`,
        text: readFileSync(join(ROOT, dir, file), 'utf8'),
      })),
  )
  const SDK = /from '@opentelemetry\/(?!api')|import\('@opentelemetry\/(?!api')|'@grpc\//

  it('only shared/process/telemetry-sdk.ts names an SDK package', () => {
    expect(sources.filter((s) => SDK.test(s.text)).map((s) => s.path)).toEqual([
      'shared/process/telemetry-sdk.ts',
    ])
  })

  it('and only telemetry-export.ts loads that file, by a dynamic import', () => {
    const importers = sources.filter((s) => s.text.includes('telemetry-sdk.js'))
    expect(importers.map((s) => s.path)).toEqual(['shared/process/telemetry-export.ts'])
    expect(importers[0]?.text).toMatch(/await import\('\.\/telemetry-sdk\.js'\)/)
    expect(importers[0]?.text).not.toMatch(/from '\.\/telemetry-sdk\.js'/)
  })
})
