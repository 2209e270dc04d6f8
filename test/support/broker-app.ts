import { onTestFinished } from 'vitest'
import type { ClientConfig } from '../../broker/config.js'
import { CredentialCache } from '../../broker/credential-cache.js'
import { BrokerMetrics } from '../../broker/metrics.js'
import { DEFAULT_REFRESH_POLICY } from '../../broker/refresh-schedule.js'
import { type BrokerAppOptions, createBrokerApp } from '../../broker/server.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { flush, ManualClock } from '../../testing/manual-clock.js'
import { captureLogs } from './capture-logs.js'
import { ScriptedProvider } from './scripted-provider.js'

const HOUR_MS = 3600_000
/** The loopback address requests are addressed to; the broker accepts it as Host. */
const BROKER_ORIGIN = 'http://127.0.0.1:8990'

/**
 * The broker's HTTP app in this process, driven with `app.request()`: one credential cache per
 * target over a {@link ScriptedProvider} (the test answers every fetch), all on one manual
 * clock, with no jitter. Call it inside a test: its caches stop when the test ends.
 */
export function brokerApp<Target extends string = 'default'>(options: {
  clients: readonly ClientConfig[]
  /** The targets, each with its own provider and cache (default: `default` alone). */
  targets?: readonly Target[]
  /** Host names accepted besides loopback (default: none). */
  allowedHosts?: readonly string[]
  statusPage?: boolean
  /** As when the broker listens beyond loopback: false. */
  openStatus?: boolean
}) {
  const clock = new ManualClock()
  const targets = options.targets ?? (['default'] as unknown as readonly Target[])
  const providers = Object.fromEntries(
    targets.map((target) => [target, new ScriptedProvider(clock)]),
  ) as Record<Target, ScriptedProvider>
  const caches = new Map<string, CredentialCache>()
  const metrics = new BrokerMetrics(
    () => [...caches.values()].map((c) => c.status()),
    () => clock.now(),
  )
  for (const target of targets) {
    caches.set(
      target,
      new CredentialCache({
        target,
        provider: providers[target],
        policy: DEFAULT_REFRESH_POLICY,
        clock,
        random: () => 0,
        observer: metrics.observer(),
      }),
    )
  }
  onTestFinished(() => {
    for (const cache of caches.values()) cache.stop()
  })
  const logs = captureLogs('broker')
  let draining = false
  const appOptions: BrokerAppOptions = {
    caches,
    clients: options.clients,
    allowedHosts: options.allowedHosts ?? [],
    metrics,
    logger: logs.logger,
    draining: () => draining,
    now: () => clock.now(),
    ...(options.statusPage === undefined ? {} : { statusPage: options.statusPage }),
    ...(options.openStatus === undefined ? {} : { openStatus: options.openStatus }),
  }
  const app = createBrokerApp(appOptions)
  /** A GET to `path` on loopback, with `headers`. */
  const request = (path: string, headers: Record<string, string> = {}) =>
    app.request(`${BROKER_ORIGIN}${path}`, {
      headers: { host: new URL(BROKER_ORIGIN).host, ...headers },
    })
  /** Starts every cache and answers each first fetch with a credential of `lifetimeMs`. */
  const warm = async (lifetimeMs = HOUR_MS): Promise<Record<Target, ProviderCredential>> => {
    for (const cache of caches.values()) cache.start()
    await flush()
    return Object.fromEntries(
      targets.map((target) => [target, providers[target].succeed(lifetimeMs)]),
    ) as Record<Target, ProviderCredential>
  }
  return {
    clock,
    providers,
    caches,
    app,
    logs,
    request,
    warm,
    /** From now on the broker is draining (as after SIGTERM). */
    drain: () => {
      draining = true
    },
  }
}
