import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startBrokerFromConfig } from '../../broker/broker.js'
import {
  brokerCommandSettings,
  ConfigError,
  chooseProvider,
  resolveBrokerConfig,
} from '../../broker/config.js'
import { migrateViaBroker } from '../../functions/db/migrate-via-broker.js'
import { connectBroker } from '../../shared/client/broker-client.js'
import { LakebaseError } from '../../shared/client/errors.js'
import { sqlstateOf } from '../../shared/client/sqlstate.js'
import { type Env, envValue } from '../../shared/process/env.js'
import { describeError } from '../../shared/process/error-handler.js'
import type { Logger } from '../../shared/process/logger.js'
import { type Command, runIfEntry } from '../../shared/process/run-main.js'
import {
  booleanText,
  numberSetting,
  type Settings,
  setting,
} from '../../shared/process/settings.js'
import { functionsCommandSettings, resolveFunctionsConfig } from '../functions-config.js'
import { serveFunctions } from '../serve-functions.js'
import { instanceForHost } from '../setup/instance-for-host.js'
import { openWorkspace, workspaceSettingsFrom } from '../setup/workspace.js'

/** 32 random bytes, as the broker's own generated token file holds. */
const CLIENT_TOKEN_BYTES = 32
/**
 * Start-up waits this long for the database to take the migrations. A Lakebase instance that is
 * STARTING (resumed, or just created by `databricks bundle deploy`) takes a few minutes;
 * `LAKEBASE_MIGRATE_TIMEOUT_S`.
 */
const DEFAULT_MIGRATE_TIMEOUT_MS = 5 * 60_000
/** Between migration attempts: the broker's own fetch is already retrying underneath. */
const MIGRATE_RETRY_PAUSE_MS = 2_000

/** The settings only `npm run serve` reads. */
export const serveSettings = {
  LAKEBASE_MIGRATE_ON_START: setting(
    booleanText.default('true'),
    'apply migrations before serving',
  ),
  LAKEBASE_MIGRATE_TIMEOUT_S: setting(
    numberSetting()
      .min(0, 'must be 0 or more seconds')
      .default(DEFAULT_MIGRATE_TIMEOUT_MS / 1000),
    'how long start-up waits for a starting database',
  ),
} satisfies Settings

const settings = {
  ...brokerCommandSettings,
  ...functionsCommandSettings,
  ...serveSettings,
} satisfies Settings

/** `lakebase-broker serve` (`npm run serve`): the broker and the functions in one process. */
export const command: Command<typeof settings> = {
  name: 'serve',
  help: `Usage: $0 [--help]

The production entry (Databricks Apps runs it from app.yaml): the broker and the functions in one
Node process, from the compiled JavaScript in dist/ (\`npm run build\`; Databricks Apps runs the
build script itself after \`npm install\`). The broker listens on a private unix socket with a
client token generated in memory at start-up; nothing else can read credentials from it.
Databricks Apps set DATABRICKS_HOST, DATABRICKS_CLIENT_ID/SECRET (the app's service principal) and
PGHOST PGPORT PGDATABASE PGUSER PGSSLMODE (the app's database resource); LAKEBASE_INSTANCE_NAME is
found from PGHOST when unset.`,
  settings,
  telemetry: true,
  async start({ env: loaded, settings: s, logger, signal, defer, drainOnSigterm }) {
    // The socket folder first: whatever ends the start-up from here on removes it.
    const socketDir = await mkdtemp(join(tmpdir(), 'lakebase-serve-'))
    defer('socket folder', () => rm(socketDir, { recursive: true, force: true }))
    const env = await withInstanceName(loaded, logger)
    const functionsConfig = resolveFunctionsConfig(env)

    // The broker serves only this process: a private socket and a token that lives in memory.
    const token = randomBytes(CLIENT_TOKEN_BYTES).toString('base64url')
    const brokerConfig = resolveBrokerConfig({
      ...env,
      BROKER_TOKEN: token,
      BROKER_SOCKET: join(socketDir, 'broker.sock'),
    })
    const broker = await startBrokerFromConfig({
      config: brokerConfig,
      logger: logger.child({ name: 'broker' }),
    })
    defer('broker', () => broker.close())
    drainOnSigterm(brokerConfig.drainMs, () => broker.drain())
    const credentials = connectBroker({
      url: broker.url,
      token,
      target: functionsConfig.brokerTarget,
    })

    if (s.LAKEBASE_MIGRATE_ON_START === 'true') {
      await migrateWhenReady(
        () => migrateViaBroker(credentials, functionsConfig.sslMode),
        s.LAKEBASE_MIGRATE_TIMEOUT_S * 1000,
        logger,
        signal,
      )
    }

    // Model serving signs in as the broker does: in Databricks Apps, as the app's principal.
    const server = await serveFunctions({
      credentials,
      config: functionsConfig,
      logger: logger.child({ name: 'functions' }),
    })
    defer('functions', () => server.close())
    logger.info(
      { url: server.url, providers: brokerConfig.targets.map((t) => t.provider) },
      'lakebase app listening',
    )
    return undefined
  },
}

/**
 * The environment with `LAKEBASE_INSTANCE_NAME` filled in from `PGHOST` when the workspace is in
 * use and neither it nor `LAKEBASE_ENDPOINT` is set (a database resource without the app.yaml
 * line naming its instance).
 */
async function withInstanceName(env: Env, logger: Logger): Promise<Env> {
  const host = envValue(env, 'PGHOST')
  if (
    chooseProvider(env, undefined) !== 'databricks' ||
    envValue(env, 'LAKEBASE_INSTANCE_NAME', 'LAKEBASE_ENDPOINT') !== undefined ||
    host === undefined
  ) {
    return env
  }
  const fix =
    'set LAKEBASE_INSTANCE_NAME in app.yaml to the instance of the database resource, or LAKEBASE_ENDPOINT (valueFrom: postgres) for Autoscaling'
  let name: string | undefined
  try {
    const session = await openWorkspace(workspaceSettingsFrom(env))
    name = await instanceForHost(await session.call(), host)
  } catch (err) {
    throw new ConfigError(
      `LAKEBASE_INSTANCE_NAME is unset, and finding the instance of PGHOST failed: ${(err as Error).message}`,
      fix,
    )
  }
  if (name === undefined) {
    throw new ConfigError(`no Lakebase Provisioned instance has the host ${host} (PGHOST)`, fix)
  }
  logger.info({ instance: name, pgHost: host }, 'LAKEBASE_INSTANCE_NAME found from PGHOST')
  return { ...env, LAKEBASE_INSTANCE_NAME: name }
}

/**
 * Runs the migrations, retrying while the failure is one that passes (no credential yet, the
 * database starting or unreachable) until `timeoutMs`; a configuration error fails at once.
 */
async function migrateWhenReady(
  migrate: () => Promise<{ applied: number; total: number; user: string; database: string }>,
  timeoutMs: number,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await migrate()
      logger.info(
        { applied: result.applied, total: result.total, user: result.user, db: result.database },
        'migrations applied',
      )
      return
    } catch (err) {
      if (!passes(err) || Date.now() + MIGRATE_RETRY_PAUSE_MS > deadline) throw err
      logger.warn(
        { attempt, err: describeError(err) },
        'database not ready for migrations; retrying',
      )
      await sleep(MIGRATE_RETRY_PAUSE_MS, undefined, { signal })
    }
  }
}

/** SQLSTATEs that a retry cannot fix: the role or the database does not exist. */
const PERMANENT_SQLSTATES = new Set(['28000', '3D000', '42501'])

function passes(err: unknown): boolean {
  if (err instanceof LakebaseError) return err.code !== 'LAKEBASE_NOT_CONFIGURED'
  const code = sqlstateOf(err)
  return !(code !== undefined && PERMANENT_SQLSTATES.has(code))
}

runIfEntry(import.meta.url, command)
