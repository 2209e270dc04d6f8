import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type BrokerFromConfigOptions,
  type RunningBroker,
  startBrokerFromConfig,
} from '../../broker/broker.js'
import { type BrokerConfig, resolveBrokerConfig } from '../../broker/config.js'
import type { Env } from '../../shared/process/env.js'
import { captureLogs } from './capture-logs.js'

export const TEST_CLIENT_TOKEN = 'test-client-token-6c1f2b9e0d4a'

/**
 * A broker's environment for the static provider on one of the suite's databases, logged in as
 * the suite's superuser, without TLS; `port` replaces the database's (a proxy, a closed port).
 */
export function staticBrokerEnv(
  db: { host: string; port: number; database: string },
  port: number = db.port,
): Env {
  return {
    PGUSER: 'postgres',
    PGPASSWORD: 'test-superuser-password',
    PGHOST: db.host,
    PGPORT: String(port),
    PGDATABASE: db.database,
    PGSSLMODE: 'disable',
  }
}

/** A temporary folder for token files and sockets. */
export async function tempDir(prefix = 'lakebase-broker-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/**
 * A real broker in this process on a free loopback port (or the given socket), configured from
 * `env` as `npm run broker` would be; logs are captured.
 */
export async function startTestBroker(
  env: Env,
  extra: Partial<Omit<BrokerFromConfigOptions, 'config' | 'logger'>> & {
    configure?: (c: BrokerConfig) => void
  } = {},
) {
  const config = resolveBrokerConfig({ BROKER_PORT: '0', BROKER_TOKEN: TEST_CLIENT_TOKEN, ...env })
  extra.configure?.(config)
  const logs = captureLogs('broker')
  const broker: RunningBroker = await startBrokerFromConfig({
    ...extra,
    config,
    logger: logs.logger,
  })
  return { broker, logs, url: broker.url }
}
