import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startBroker } from '../broker/broker.js'
import { ConfigError, chooseProvider, resolveBrokerConfig } from '../broker/config.js'
import { resolveFunctionsConfig } from '../functions/config.js'
import { serveFunctions } from '../functions/serve.js'
import { brokerCredentials } from '../shared/broker-client.js'
import { migrateViaBroker } from '../shared/db/migrate-via-broker.js'
import { codeOf } from '../shared/db/sqlstate.js'
import { type Env, envValue, loadEnv } from '../shared/env.js'
import { describe } from '../shared/error-handler.js'
import { AppError } from '../shared/errors.js'
import { exitWith } from '../shared/exit.js'
import { createLogger, type Logger } from '../shared/logger.js'
import { instanceForHost } from './setup/instance-for-host.js'
import { openWorkspace, workspaceSettingsFrom } from './setup/workspace.js'

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
/** After SIGTERM the app keeps answering this long while the platform stops routing to it. */
const DEFAULT_DRAIN_MS = 2_000

const HELP = `Usage: npm run serve [-- --help]

The production entry (Databricks Apps runs it from app.yaml): the broker and the functions in one
Node process, from the compiled JavaScript in dist/ (\`npm run build\`; Databricks Apps runs the
build script itself after \`npm install\`). The broker listens on a private unix socket with a
client token generated in memory at start-up; nothing else can read credentials from it.

  DATABRICKS_HOST, DATABRICKS_CLIENT_ID/SECRET   the app's service principal (set by Databricks Apps)
  PGHOST PGPORT PGDATABASE PGUSER PGSSLMODE      the app's database resource (set by Databricks Apps)
  LAKEBASE_INSTANCE_NAME   the Provisioned instance (app.yaml); found from PGHOST when unset
  LAKEBASE_ENDPOINT        or an Autoscaling endpoint (app.yaml: valueFrom: postgres)
  DATABRICKS_APP_PORT      where the functions listen (PORT wins; 8000)
  LAKEBASE_MIGRATE_ON_START  apply migrations before serving (true)
  LAKEBASE_MIGRATE_TIMEOUT_S how long to wait for the database at start-up (300)
See README.md for every setting.`

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    console.log(HELP)
    return
  }
  const loaded = loadEnv()
  const logger = createLogger({ name: 'serve', level: envValue(loaded, 'LOG_LEVEL') ?? 'info' })
  const env = await withInstanceName(loaded, logger)
  const functionsConfig = resolveFunctionsConfig(env)
  const migrateTimeout = migrateTimeoutMs(env)

  // The broker serves only this process: a private socket and a token that lives in memory.
  const token = randomBytes(CLIENT_TOKEN_BYTES).toString('base64url')
  const socketDir = await mkdtemp(join(tmpdir(), 'lakebase-serve-'))
  const stack: { name: string; stop: () => Promise<unknown> }[] = [
    { name: 'socket folder', stop: () => rm(socketDir, { recursive: true, force: true }) },
  ]
  const stopAll = async () => {
    for (const part of stack.reverse()) {
      await part
        .stop()
        .catch((err: unknown) =>
          logger.warn({ part: part.name, err: describe(err) }, 'stopping failed'),
        )
    }
  }

  try {
    const brokerConfig = resolveBrokerConfig({
      ...env,
      BROKER_TOKEN: token,
      BROKER_SOCKET: join(socketDir, 'broker.sock'),
    })
    const broker = await startBroker({
      config: brokerConfig,
      logger: logger.child({ name: 'broker' }),
    })
    stack.push({ name: 'broker', stop: () => broker.close() })
    const credentials = brokerCredentials({
      url: broker.url,
      token,
      target: functionsConfig.brokerTarget,
    })

    if (envValue(env, 'LAKEBASE_MIGRATE_ON_START') !== 'false') {
      await migrateWhenReady(
        () => migrateViaBroker(credentials, functionsConfig.sslMode),
        migrateTimeout,
        logger,
      )
    }

    // Model serving signs in as the broker does: in Databricks Apps, as the app's principal.
    const server = await serveFunctions({
      credentials,
      config: functionsConfig,
      logger: logger.child({ name: 'functions' }),
    })
    stack.push({ name: 'functions', stop: () => server.close() })
    logger.info(
      { url: server.url, providers: brokerConfig.targets.map((t) => t.provider) },
      'lakebase app listening',
    )

    let stopping = false
    const stop = async (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1)
      stopping = true
      broker.drain()
      logger.info({ signal }, 'shutting down')
      if (signal === 'SIGTERM') await new Promise((r) => setTimeout(r, drainMs(env)))
      await stopAll()
      logger.flush()
      process.exit(0)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  } catch (err) {
    await stopAll()
    throw err
  }
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
      logger.warn({ attempt, err: describe(err) }, 'database not ready for migrations; retrying')
      await new Promise((r) => setTimeout(r, MIGRATE_RETRY_PAUSE_MS))
    }
  }
}

/** SQLSTATEs that a retry cannot fix: the role or the database does not exist. */
const PERMANENT_SQLSTATES = new Set(['28000', '3D000', '42501'])

function passes(err: unknown): boolean {
  if (err instanceof AppError) return err.code !== 'LAKEBASE_NOT_CONFIGURED'
  const code = codeOf(err)
  return !(code !== undefined && PERMANENT_SQLSTATES.has(code))
}

function migrateTimeoutMs(env: Env): number {
  const seconds = Number(
    envValue(env, 'LAKEBASE_MIGRATE_TIMEOUT_S') ?? DEFAULT_MIGRATE_TIMEOUT_MS / 1000,
  )
  if (!(seconds >= 0)) throw new ConfigError('LAKEBASE_MIGRATE_TIMEOUT_S must be a number ≥ 0')
  return seconds * 1000
}

function drainMs(env: Env): number {
  return Number(envValue(env, 'BROKER_DRAIN_S') ?? DEFAULT_DRAIN_MS / 1000) * 1000
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    exitWith(1, [`serve: ${err.message}`, ...(err.suggestion ? [`  fix: ${err.suggestion}`] : [])])
  }
  if (err instanceof AppError) {
    const suggestion = err.technicalDetails.suggestion
    exitWith(1, [
      `serve: ${err.code}: ${err.message}`,
      ...(typeof suggestion === 'string' ? [`  fix: ${suggestion}`] : []),
    ])
  }
  const code = codeOf(err)
  if (code !== undefined) {
    // A database error: its own message and code, not drizzle's wrapper quoting the whole query.
    const cause = innermost(err)
    exitWith(1, [
      `serve: the database refused start-up: ${cause.message} (${code})`,
      ...(code === '42501'
        ? [
            '  fix: grant the app\'s role CREATE on its schema, or keep search_path starting with "$user"',
          ]
        : []),
    ])
  }
  exitWith(1, [`serve: failed to start: ${JSON.stringify(describe(err))}`])
})

function innermost(err: unknown): Error {
  let e = err as Error
  while (e.cause instanceof Error) e = e.cause
  return e
}
