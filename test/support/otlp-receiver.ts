import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import * as grpc from '@grpc/grpc-js'
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader'
import { ROOT } from './process.js'

/** A signal as OTLP names its paths (`/v1/traces`, `/v1/metrics`). */
export type Signal = 'traces' | 'metrics'

/** One export request the receiver took: its bytes as they came, and decoded. */
export interface Received {
  signal: Signal
  transport: 'http' | 'grpc'
  /** The HTTP path, or the gRPC method's. */
  path: string
  /** The HTTP content type (`application/x-protobuf`); the gRPC one for gRPC. */
  contentType: string
  raw: Buffer
  /** The ExportTraceServiceRequest or ExportMetricsServiceRequest, as plain objects. */
  body: OtlpRequest
}

/** The parts of an OTLP export request the tests read (camelCase, as proto-loader decodes). */
export interface OtlpRequest {
  resourceSpans?: Array<{ resource?: OtlpResource; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>
  resourceMetrics?: Array<{
    resource?: OtlpResource
    scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }>
  }>
}
interface OtlpResource {
  attributes?: KeyValue[]
}
interface OtlpSpan {
  name: string
  attributes?: KeyValue[]
}
interface KeyValue {
  key: string
  value?: Record<string, unknown> & { value?: string }
}

/** A span as the tests look at it: its name, its attributes and its resource's, flattened. */
export interface SpanSeen {
  name: string
  attributes: Record<string, unknown>
  resource: Record<string, unknown>
}

const PROTO_ROOT = join(ROOT, 'vendor', 'opentelemetry-proto')
const PROTOS = {
  traces: 'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  metrics: 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
}
/** The services, as `opentelemetry-proto` defines them; their methods decode and encode. */
const definitions = loadSync(Object.values(PROTOS), {
  includeDirs: [PROTO_ROOT],
  longs: String,
  oneofs: true,
})
const SERVICES: Record<Signal, ServiceDefinition> = {
  traces: definitions['opentelemetry.proto.collector.trace.v1.TraceService'] as ServiceDefinition,
  metrics: definitions[
    'opentelemetry.proto.collector.metrics.v1.MetricsService'
  ] as ServiceDefinition,
}
const HTTP_PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/metrics': 'metrics' }

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  url: string
  /** Every request taken, in order. */
  received: Received[]
  /** Resolves with the first request (past or future) for which `match` holds. */
  next(match: (r: Received) => boolean, timeoutMs?: number): Promise<Received>
  close(): Promise<void>
}

/** How long `next` waits by default: a metrics interval of a second, with margin. */
const DEFAULT_NEXT_MS = 10_000

/**
 * An OTLP collector for one test, on a free loopback port: OTLP/HTTP with protobuf bodies (plus
 * `extraHttpPaths`, for signal-specific endpoints) or OTLP/gRPC, without TLS. It records and
 * decodes every export request and answers success.
 */
export async function startOtlpReceiver(
  transport: 'http' | 'grpc',
  extraHttpPaths: Record<string, Signal> = {},
): Promise<OtlpReceiver> {
  const received: Received[] = []
  const waiters = new Set<(r: Received) => void>()
  const take = (r: Received) => {
    received.push(r)
    for (const w of waiters) w(r)
  }
  const { url, close } =
    transport === 'http'
      ? await listenHttp({ ...HTTP_PATHS, ...extraHttpPaths }, take)
      : await listenGrpc(take)
  return {
    url,
    received,
    next(match, timeoutMs = DEFAULT_NEXT_MS) {
      const past = received.find(match)
      if (past) return Promise.resolve(past)
      return new Promise((resolve, reject) => {
        const waiter = (r: Received) => {
          if (!match(r)) return
          done()
          resolve(r)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no matching OTLP export in ${timeoutMs} ms (${received.length} taken)`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(waiter)
        }
        waiters.add(waiter)
      })
    },
    close,
  }
}

async function listenHttp(paths: Record<string, Signal>, take: (r: Received) => void) {
  const server = createServer(async (req, res) => {
    const signal = paths[req.url ?? '']
    const contentType = req.headers['content-type'] ?? ''
    const raw = await bodyOf(req)
    if (req.method !== 'POST' || signal === undefined || contentType !== 'application/x-protobuf') {
      res.writeHead(404).end()
      return
    }
    const body = SERVICES[signal].Export?.requestDeserialize(raw) as OtlpRequest
    take({ signal, transport: 'http', path: req.url ?? '', contentType, raw, body })
    // An empty Export…ServiceResponse: full success.
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const raw = Buffer.concat(chunks)
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw
}

async function listenGrpc(take: (r: Received) => void) {
  const server = new grpc.Server()
  for (const signal of ['traces', 'metrics'] as const) {
    const service = SERVICES[signal]
    const method = service.Export
    if (method === undefined) throw new Error(`no Export in the ${signal} service`)
    // The request is taken as bytes, so that what is searched is what came over the wire.
    server.addService(
      { Export: { ...method, requestDeserialize: (bytes: Buffer) => bytes } },
      {
        Export: (
          call: grpc.ServerUnaryCall<Buffer, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          const raw = call.request
          const body = method.requestDeserialize(raw) as OtlpRequest
          take({
            signal,
            transport: 'grpc',
            path: method.path,
            contentType: 'application/grpc',
            raw,
            body,
          })
          callback(null, {})
        },
      },
    )
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  )
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.forceShutdown()
    },
  }
}

/** Every span in the requests taken, with its resource. */
export function spansIn(received: Received[]): SpanSeen[] {
  return received.flatMap((r) =>
    (r.body.resourceSpans ?? []).flatMap((rs) =>
      (rs.scopeSpans ?? []).flatMap((ss) =>
        (ss.spans ?? []).map((span) => ({
          name: span.name,
          attributes: attributesOf(span.attributes),
          resource: attributesOf(rs.resource?.attributes),
        })),
      ),
    ),
  )
}

/** Every metric's name in the requests taken, with its resource. */
export function metricsIn(
  received: Received[],
): Array<{ name: string; resource: Record<string, unknown> }> {
  return received.flatMap((r) =>
    (r.body.resourceMetrics ?? []).flatMap((rm) =>
      (rm.scopeMetrics ?? []).flatMap((sm) =>
        (sm.metrics ?? []).map((m) => ({
          name: m.name,
          resource: attributesOf(rm.resource?.attributes),
        })),
      ),
    ),
  )
}

/** OTLP key-values as a record; each value is its `oneof`'s member (`stringValue`, …). */
function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries(
    (list ?? []).map(({ key, value }) => [key, value?.value ? value[value.value] : undefined]),
  )
}
