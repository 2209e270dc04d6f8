import { ensureTokenFile } from '../shared/client/broker-token.js'
import type { Clock } from '../shared/client/clock.js'
import { systemClock } from '../shared/client/clock.js'
import { isLoopbackHost } from '../shared/client/loopback.js'
import { describeError } from '../shared/process/error-handler.js'
import { listen, type RunningServer } from '../shared/process/http-server.js'
import type { Logger } from '../shared/process/logger.js'
import type { BrokerConfig, ClientConfig } from './config.js'
import { CredentialCache, type TargetStatus } from './credential-cache.js'
import { CredentialEndpoint } from './credential-endpoint.js'
import { credentialFastPath, installFastPath } from './fast-path.js'
import { BrokerMetrics } from './metrics.js'
import { ClientTable } from './middleware/client-auth.js'
import { guard } from './middleware/request-guard.js'
import { createPerUserCredentials } from './per-user/create-per-user.js'
import { type Pgbouncer, preparePgbouncer } from './pgbouncer/pgbouncer.js'
import { PgpassFile } from './pgpass-file.js'
import { createProvider, type ProviderFactories } from './providers/create-provider.js'
import type { CredentialProvider } from './providers/provider.js'
import { ReadOnlyCompanion } from './read-only-companion.js'
import type { RefreshPolicy } from './refresh-schedule.js'
import type { ServedTarget } from './served-target.js'
import { createBrokerApp } from './server.js'
import { logStartupWarnings } from './startup-warnings.js'

export interface BrokerFromConfigOptions {
  config: BrokerConfig
  logger: Logger
  clock?: Clock
  random?: () => number
  /** Extra provider constructors, e.g. `embedded` under `npm start`. */
  providers?: ProviderFactories
}

export interface RunningBroker {
  url: string
  /** The targets with a credential of their own. */
  caches: ReadonlyMap<string, CredentialCache>
  /** The read-only companions (`<target>-ro`), each serving its primary's credential. */
  companions: ReadonlyMap<string, ReadOnlyCompanion>
  metrics: BrokerMetrics
  /** The client token the broker generated or read from its token file, when it uses one. */
  clients: readonly ClientConfig[]
  /** The local PgBouncer (`BROKER_PGBOUNCER=true`), running until `close()`. */
  pgbouncer?: Pgbouncer | undefined
  /** Marks the broker draining: `/readyz` answers 503 while requests are still served. */
  drain(): void
  /** Stops refreshing and closes the endpoint. */
  close(): Promise<void>
}

/** Builds the providers and caches, opens the endpoint, and starts refreshing every target. */
export async function startBrokerFromConfig(
  options: BrokerFromConfigOptions,
): Promise<RunningBroker> {
  const { config, logger } = options
  const clock = options.clock ?? systemClock
  const clients = config.clients.length > 0 ? config.clients : await fileClient(config.tokenFile)
  if (config.clients.length === 0)
    logger.info({ tokenFile: config.tokenFile }, 'client token read from its file')

  const caches = new Map<string, CredentialCache>()
  const statuses = () => [...caches.values()].map((c) => c.status())
  const metrics = new BrokerMetrics(statuses, () => clock.now())
  const observer = metrics.observer()
  const outageBudget = outageBudgetWarning(config.policy, logger)
  const pgpass = config.pgpassFile ? new PgpassFile(config.pgpassFile, logger) : undefined
  const pgbouncer = config.pgbouncer
    ? await preparePgbouncer({
        config: config.pgbouncer,
        targets: config.targets,
        companions: config.companions,
        clients,
        logger,
        registry: metrics.registry,
      })
    : undefined
  const providers: CredentialProvider[] = []
  const providerOf = new Map<string, CredentialProvider>()
  /** Each primary's companion, whose `.pgpass` line follows the primary's refreshes. */
  const companionOf = new Map<string, ReadOnlyCompanion>()
  /** Ends the start-up checks still asking upstream when the broker stops. */
  const stopping = new AbortController()
  for (const target of config.targets) {
    const provider = await createProvider(target, { clock, logger, factories: options.providers })
    providers.push(provider)
    providerOf.set(target.name, provider)
    const cache = new CredentialCache({
      target: target.name,
      provider,
      policy: config.policy,
      clock,
      random: options.random,
      fetchTimeoutMs: config.fetchTimeoutMs,
      forcedRefreshMinMs: config.forcedRefreshMinMs,
      observer: {
        ...observer,
        refreshed(name, record, error) {
          observer.refreshed?.(name, record, error)
          if (error)
            logger.warn(
              { target: name, error, durationMs: record.durationMs },
              'credential refresh failed',
            )
          else {
            logger.info({ target: name, durationMs: record.durationMs }, 'credential refreshed')
            const status = caches.get(name)?.status()
            if (status) outageBudget.check(status)
            void pgpass?.updateFrom(name, caches.get(name))
            const companion = companionOf.get(name)
            // Its line only once its host is known: a refresh never makes the broker look it up.
            if (companion) void pgpass?.updateFrom(companion.target, companion.known())
            void pgbouncer?.updateFrom(name, caches.get(name))
            if (companion) void pgbouncer?.updateFrom(companion.target, companion.known())
          }
        },
      },
    })
    caches.set(target.name, cache)
    logger.info({ target: target.name, provider: provider.describe() }, 'target configured')
    const checkSignal = AbortSignal.any([
      stopping.signal,
      AbortSignal.timeout(config.fetchTimeoutMs),
    ])
    void logStartupWarnings(target.name, provider, logger, checkSignal)
  }
  const companions = new Map<string, ReadOnlyCompanion>()
  for (const { name, primary, absentReason, lookUp } of config.companions) {
    const cache = caches.get(primary)
    if (cache === undefined) continue
    const provider = providerOf.get(primary)
    const lookUpHost =
      lookUp && provider?.lookUpReadOnlyHost
        ? (signal: AbortSignal) =>
            provider.lookUpReadOnlyHost?.(signal) ?? Promise.resolve(undefined)
        : undefined
    const companion = new ReadOnlyCompanion({
      target: name,
      primary,
      cache,
      absentReason,
      lookUpHost,
      lookUpTimeoutMs: config.fetchTimeoutMs,
    })
    companions.set(name, companion)
    companionOf.set(primary, companion)
  }
  const served = new Map<string, ServedTarget>([...caches, ...companions])

  const perUser = await createPerUserCredentials(config.targets, caches, {
    clock,
    policy: config.policy,
  })
  let draining = false
  const endpoint = new CredentialEndpoint(served, new ClientTable(clients), metrics, () =>
    clock.now(),
  )
  const app = createBrokerApp({
    endpoint,
    perUser,
    caches,
    companions,
    clients,
    allowedHosts: config.allowedHosts,
    metrics,
    logger,
    draining: () => draining,
    now: () => clock.now(),
    statusPage: config.statusPage,
    openStatus: config.listen.kind === 'socket' || isLoopbackHost(config.listen.host),
    pgbouncer: pgbouncer && (() => pgbouncer.status()),
  })
  let server: RunningServer
  try {
    server = await listen(app.fetch, config.listen)
  } catch (err) {
    for (const p of providers) await p.close?.()
    throw err
  }
  installFastPath(
    server.server,
    credentialFastPath(endpoint, guard({ allowedHosts: config.allowedHosts })),
  )
  try {
    await pgbouncer?.start(served)
  } catch (err) {
    await pgbouncer?.close()
    await server.close()
    for (const p of providers) await p.close?.()
    throw err
  }
  for (const cache of caches.values()) cache.start()
  logger.info(
    {
      url: server.url,
      targets: [...caches.keys()],
      readOnlyCompanions: [...companions.keys()],
      clients: clients.map((c) => c.name),
    },
    'broker listening',
  )

  return {
    url: server.url,
    caches,
    companions,
    metrics,
    clients,
    pgbouncer,
    drain() {
      draining = true
    },
    async close() {
      draining = true
      stopping.abort()
      for (const cache of caches.values()) cache.stop()
      await server.close()
      await pgbouncer?.close()
      for (const p of providers) {
        await p
          .close?.()
          .catch((err: unknown) =>
            logger.warn({ err: describeError(err) }, 'provider close failed'),
          )
      }
    },
  }
}

/**
 * Warns when a credential arrives whose lifetime cannot leave `BROKER_OUTAGE_BUDGET_S` between its
 * refresh point and its last servable moment — once per target, until one can again.
 */
function outageBudgetWarning(policy: RefreshPolicy, logger: Logger) {
  const short = new Set<string>()
  return {
    check(status: TargetStatus) {
      const budgetMs = policy.outageBudgetMs
      if (budgetMs === undefined || status.refreshAt === undefined) return
      if (status.serveUntil === undefined || status.expiresAt === undefined) return
      const headroomMs = status.serveUntil - status.refreshAt
      if (headroomMs >= budgetMs) {
        short.delete(status.target)
        return
      }
      if (short.has(status.target)) return
      short.add(status.target)
      logger.warn(
        {
          target: status.target,
          outageBudgetS: budgetMs / 1000,
          survivableOutageS: Math.max(0, Math.floor(headroomMs / 1000)),
          credentialLeftS: Math.floor((status.expiresAt - status.refreshAt) / 1000),
          minTtlS: policy.minTtlMs / 1000,
        },
        'credential lifetime too short for BROKER_OUTAGE_BUDGET_S: an upstream outage longer than survivableOutageS will interrupt service',
      )
    },
  }
}

async function fileClient(path: string): Promise<ClientConfig[]> {
  return [{ name: 'default', token: await ensureTokenFile(path), targets: '*' }]
}
