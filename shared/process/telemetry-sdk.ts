import { type DiagLogger, DiagLogLevel, diag, metrics } from '@opentelemetry/api'
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources'
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics'
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node'
import type { Logger } from './logger.js'
import { DEFAULT_SERVICE_NAME, type ExportPlan, type OtlpProtocol } from './telemetry-export.js'

/**
 * The OpenTelemetry Node SDK behind `@opentelemetry/api`, exporting over OTLP. Only
 * `startTelemetryExport` loads this file, by a dynamic import: nothing a library entry imports
 * reaches it, and a gRPC exporter is loaded only when a signal goes by gRPC.
 */
export async function installSdk(
  plan: ExportPlan,
  options: { command: string; logger: Logger },
): Promise<{ shutdown(): Promise<void> }> {
  // Failed exports are reported through diag, which is silent until given a logger.
  diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN)
  // The environment's attributes (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) win over ours.
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        'service.name': DEFAULT_SERVICE_NAME,
        'lakebase.command': options.command,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }))
  const providers: { shutdown(): Promise<void> }[] = []
  if (plan.traces) {
    const provider = new NodeTracerProvider({
      resource,
      spanProcessors: [new BatchSpanProcessor(await spanExporter(plan.traces))],
    })
    provider.register()
    providers.push(provider)
  }
  if (plan.metrics) {
    const provider = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter: await metricExporter(plan.metrics.protocol),
          exportIntervalMillis: plan.metrics.intervalMs,
          exportTimeoutMillis: plan.metrics.timeoutMs,
        }),
      ],
    })
    metrics.setGlobalMeterProvider(provider)
    providers.push(provider)
  }
  return {
    // Each provider's shutdown flushes what it holds: the last spans, one last metrics export.
    shutdown: async () => {
      await Promise.all(providers.map((p) => p.shutdown()))
    },
  }
}

/** The exporters read their endpoint, headers, timeout and TLS from the environment. */
async function spanExporter(protocol: OtlpProtocol): Promise<SpanExporter> {
  const { OTLPTraceExporter } =
    protocol === 'grpc'
      ? await import('@opentelemetry/exporter-trace-otlp-grpc')
      : await import('@opentelemetry/exporter-trace-otlp-proto')
  return new OTLPTraceExporter()
}

async function metricExporter(protocol: OtlpProtocol): Promise<PushMetricExporter> {
  const { OTLPMetricExporter } =
    protocol === 'grpc'
      ? await import('@opentelemetry/exporter-metrics-otlp-grpc')
      : await import('@opentelemetry/exporter-metrics-otlp-proto')
  return new OTLPMetricExporter()
}

/** The SDK's own warnings and errors (an unreachable collector), as the command's log lines. */
function diagLogger(logger: Logger): DiagLogger {
  const line =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) => {
      // Only messages: an argument may be a request the exporter built, headers included.
      const causes = args.filter((a): a is Error => a instanceof Error).map((e) => e.message)
      logger[level](causes.length > 0 ? { causes } : {}, `OpenTelemetry: ${message}`)
    }
  const ignore = () => {}
  return { error: line('error'), warn: line('warn'), info: ignore, debug: ignore, verbose: ignore }
}
