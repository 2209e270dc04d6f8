import { z } from 'zod'
import type { Env } from './env.js'
import type { Logger } from './logger.js'
import {
  booleanText,
  numberSetting,
  parseSettings,
  type Settings,
  type SettingsValues,
  setting,
} from './settings.js'

/**
 * The OTLP protocols spans and metrics leave by. `http/protobuf` is the OpenTelemetry
 * specification's default; Databricks Apps set `grpc` (a collector on localhost). `http/json`,
 * which the specification leaves optional, is not offered: no platform here asks for it.
 */
export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf'] as const
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number]

/** `service.name` when `OTEL_SERVICE_NAME` is unset (the specification's is `unknown_service`). */
export const DEFAULT_SERVICE_NAME = 'lakebase-broker'
/** The specification's defaults: metrics leave once a minute, and an export may take 30 s. */
const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000
const DEFAULT_METRIC_EXPORT_TIMEOUT_MS = 30_000
/**
 * A stopping command waits at most this long for its last spans and metrics to leave: a
 * collector that is gone must not hold the exit (an exporter alone waits out its own timeout,
 * 10 s by default, and retries), and the default BROKER_DRAIN_S plus this still fits the 10 s
 * that `docker stop` grants before SIGKILL.
 */
export const EXPORT_SHUTDOWN_TIMEOUT_MS = 5_000

const endpoint = z
  .string()
  .regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL')
  .optional()
const protocol = z.enum(OTLP_PROTOCOLS, {
  error: 'must be grpc or http/protobuf (http/json is not supported)',
})
const exporter = z.enum(['otlp', 'none'], { error: 'must be otlp or none' }).default('otlp')
const milliseconds = numberSetting().int('must be a whole number').positive('must be positive')

/**
 * The OpenTelemetry variables the servers (`serve`, `functions`, `broker`) read, as the
 * specification names them. The exporters read their own further ones (headers, timeout,
 * compression, TLS, `OTEL_BSP_*`) from the environment themselves.
 */
export const telemetrySettings = {
  OTEL_EXPORTER_OTLP_ENDPOINT: setting(
    endpoint,
    'the OTLP collector: when set, spans and metrics are exported there (`/v1/traces` and `/v1/metrics` are added over HTTP); Databricks Apps set it when app telemetry is on',
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting(
    endpoint,
    'the collector for spans alone, used as given (the full URL over HTTP)',
    '`OTEL_EXPORTER_OTLP_ENDPOINT`',
  ),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: setting(
    endpoint,
    'the collector for metrics alone, used as given (the full URL over HTTP)',
    '`OTEL_EXPORTER_OTLP_ENDPOINT`',
  ),
  OTEL_EXPORTER_OTLP_PROTOCOL: setting(
    protocol.default('http/protobuf'),
    '`grpc` or `http/protobuf` (Databricks Apps set `grpc`)',
  ),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: setting(
    protocol.optional(),
    'the protocol for spans alone',
    '`OTEL_EXPORTER_OTLP_PROTOCOL`',
  ),
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: setting(
    protocol.optional(),
    'the protocol for metrics alone',
    '`OTEL_EXPORTER_OTLP_PROTOCOL`',
  ),
  OTEL_SERVICE_NAME: setting(
    z.string().optional(),
    "`service.name` of every span and metric (Databricks Apps set the app's name)",
    `\`${DEFAULT_SERVICE_NAME}\``,
  ),
  OTEL_RESOURCE_ATTRIBUTES: setting(
    z.string().optional(),
    '`key=value,…` added to every span and metric (Databricks Apps set `workspace.id` and `app.name`)',
  ),
  OTEL_TRACES_EXPORTER: setting(exporter, '`none` exports no spans'),
  OTEL_METRICS_EXPORTER: setting(exporter, '`none` exports no metrics'),
  OTEL_METRIC_EXPORT_INTERVAL: setting(
    milliseconds.default(DEFAULT_METRIC_EXPORT_INTERVAL_MS),
    'milliseconds between two exports of the metrics (and one more on stop)',
  ),
  OTEL_METRIC_EXPORT_TIMEOUT: setting(
    milliseconds.default(DEFAULT_METRIC_EXPORT_TIMEOUT_MS),
    'milliseconds one export of the metrics may take (at most the interval)',
  ),
  OTEL_SDK_DISABLED: setting(booleanText.default('false'), '`true` exports nothing'),
} satisfies Settings

/** What to export, and how: a signal left out is not exported. */
export interface ExportPlan {
  traces?: OtlpProtocol
  metrics?: { protocol: OtlpProtocol; intervalMs: number; timeoutMs: number }
}

/**
 * What the settings ask to export. A signal is exported when a collector is named for it (its
 * own endpoint or the common one) and its exporter is not `none`; undefined when neither is.
 */
export function exportPlan(s: SettingsValues<typeof telemetrySettings>): ExportPlan | undefined {
  if (s.OTEL_SDK_DISABLED === 'true') return undefined
  const plan: ExportPlan = {}
  const common = s.OTEL_EXPORTER_OTLP_ENDPOINT
  if (s.OTEL_TRACES_EXPORTER === 'otlp' && (s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? common)) {
    plan.traces = s.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? s.OTEL_EXPORTER_OTLP_PROTOCOL
  }
  if (s.OTEL_METRICS_EXPORTER === 'otlp' && (s.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? common)) {
    plan.metrics = {
      protocol: s.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? s.OTEL_EXPORTER_OTLP_PROTOCOL,
      intervalMs: s.OTEL_METRIC_EXPORT_INTERVAL,
      // The SDK refuses a timeout longer than the interval; the specification's SDKs cut it.
      timeoutMs: Math.min(s.OTEL_METRIC_EXPORT_TIMEOUT, s.OTEL_METRIC_EXPORT_INTERVAL),
    }
  }
  return plan.traces || plan.metrics ? plan : undefined
}

/**
 * Installs the OpenTelemetry SDK with OTLP exporters when `env` names a collector, and returns
 * what flushes and stops it (within {@link EXPORT_SHUTDOWN_TIMEOUT_MS}); undefined, and nothing
 * loaded, when it names none. The SDK is imported here, on demand, so that only the servers'
 * processes ever load it: the package's library entries stay on `@opentelemetry/api`.
 */
export async function startTelemetryExport(
  env: Env,
  options: { command: string; logger: Logger },
): Promise<(() => Promise<void>) | undefined> {
  const plan = exportPlan(parseSettings(telemetrySettings, env))
  if (plan === undefined) return undefined
  shareWithSdk(env)
  const { installSdk } = await import('./telemetry-sdk.js')
  const sdk = await installSdk(plan, options)
  options.logger.info(
    { traces: plan.traces ?? 'off', metrics: plan.metrics?.protocol ?? 'off' },
    'telemetry export on',
  )
  return async () => {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), EXPORT_SHUTDOWN_TIMEOUT_MS)
    })
    const late = await Promise.race([sdk.shutdown().then(() => false), timedOut])
    clearTimeout(timer)
    if (late) {
      options.logger.warn(
        { timeoutMs: EXPORT_SHUTDOWN_TIMEOUT_MS },
        'telemetry export: the last spans and metrics did not leave in time',
      )
    }
  }
}

/**
 * The SDK reads its own settings (the exporters' endpoints, headers and timeouts, the batch
 * sizes, the resource attributes) from `process.env`; `.env.local` fills in the unset ones for it
 * as for every other setting.
 */
function shareWithSdk(env: Env): void {
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('OTEL_') && value !== undefined && process.env[name] === undefined) {
      process.env[name] = value
    }
  }
}
