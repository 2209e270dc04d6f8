import postgres from 'postgres'
import { spawnNode } from '../child-process.js'
import { listeningUrl } from '../server-probes.js'
import type { BenchStack } from '../stack.js'
import type { FunctionsThroughputOptions } from './functions-throughput.js'

/** The raw pool's size: the functions' own (`LAKEBASE_POOL_MAX`'s default), for a like ceiling. */
const RAW_POOL_SIZE = 10

/** The functions figure's variants, serving, and how to stop them. */
export type FunctionsVariants = Omit<FunctionsThroughputOptions, 'rounds' | 'durationS'> & {
  stop(): Promise<void>
}

/**
 * Starts what the functions figure compares, all on the steady broker's login: the functions
 * asking that broker, the same functions with its credential as a fixed password (twice, the A/A
 * control), the route by hand on Hono + postgres.js, on each driver entry and on a bare `pg.Pool`,
 * and a raw postgres.js pool.
 */
export async function startFunctionsVariants(stack: BenchStack): Promise<FunctionsVariants> {
  const { entries, started, broker } = stack
  const staticEnv = async () => ({
    ...(await stack.functionsEnv(broker.url)),
    BENCH_STATIC_CREDENTIAL: broker.served,
  })
  const functionsBroker = started(
    'functions',
    spawnNode(entries.functions, await stack.functionsEnv(broker.url)),
  )
  const functionsStatic = started(
    'functions-static',
    spawnNode(entries.functionsStatic, await staticEnv()),
  )
  // The A/A control: the static-password server again, as a process of its own.
  const functionsTwin = started(
    'functions-static-twin',
    spawnNode(entries.functionsStatic, await staticEnv()),
  )
  const bareStack = started('bare-stack', spawnNode(entries.bareStack, await staticEnv()))
  const entryPostgres = started(
    'entry-postgres',
    spawnNode(entries.entryRoute, {
      ...(await stack.functionsEnv(broker.url)),
      BENCH_DRIVER: 'postgres',
    }),
  )
  const entryPg = started(
    'entry-pg',
    spawnNode(entries.entryRoute, {
      ...(await stack.functionsEnv(broker.url)),
      BENCH_DRIVER: 'pg',
    }),
  )
  const rawPg = started(
    'raw-pg',
    spawnNode(entries.entryRoute, { ...(await staticEnv()), BENCH_DRIVER: 'raw-pg' }),
  )
  const raw = postgres({
    host: stack.pg.host,
    port: stack.pg.port,
    database: stack.db.database,
    username: broker.credential.user,
    password: broker.credential.password,
    max: RAW_POOL_SIZE,
    onnotice: () => {},
  })
  stack.teardown.add(() => raw.end())
  const servers = [
    functionsBroker,
    functionsStatic,
    functionsTwin,
    bareStack,
    entryPostgres,
    entryPg,
    rawPg,
  ]
  return {
    brokerUrl: await listeningUrl(functionsBroker),
    staticUrl: await listeningUrl(functionsStatic),
    twinUrl: await listeningUrl(functionsTwin),
    bareStackUrl: await listeningUrl(bareStack),
    entryPostgresUrl: await listeningUrl(entryPostgres),
    entryPgUrl: await listeningUrl(entryPg),
    rawPgUrl: await listeningUrl(rawPg),
    raw,
    pids: {
      broker: functionsBroker.pid,
      static: functionsStatic.pid,
      twin: functionsTwin.pid,
      bareStack: bareStack.pid,
      entryPostgres: entryPostgres.pid,
      entryPg: entryPg.pid,
      rawPg: rawPg.pid,
    },
    async stop() {
      await Promise.all(servers.map((child) => child.stop()).concat(raw.end()))
    },
  }
}
