import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from '../../test/support/free-port.js'
import { type Child, spawnNode } from '../child-process.js'
import { runInterleaved } from '../interleave.js'
import { load } from '../load.js'
import type { FigureReport } from '../report.js'
import { untilReady } from '../server-probes.js'
import { CLIENT_TOKEN } from '../stack.js'
import { median, round } from '../stats.js'
import { BROKER_CONNECTIONS } from './broker-throughput.js'
import type { StackFigureContext } from './context.js'

/** The many-target broker. */
export const MANY_TARGETS = 100
/** A short unrecorded run first, so that both brokers are measured with optimised code. */
const WARMUP_S = 1

interface TargetsScalingOptions {
  brokerEntry: string
  /** Where the two BROKER_CONFIG files are written. */
  dir: string
  /** The static login every target serves (the bench Postgres; the brokers never connect). */
  postgresEnv: Record<string, string>
  user: string
  password: string
  token: string
  rounds: number
  durationS: number
  /** Keeps a started broker's output and stops it with the rest of the bench. */
  started: <T extends Child>(name: string, child: T) => T
}

export interface TargetsScaling {
  /** Median over rounds of (100-target req/s ÷ 1-target req/s), each pair run back to back. */
  ratio: number
  oneOkPerS: number
  manyOkPerS: number
  failed: number
  ratios: number[]
}

/** Target names `t000` … , sorted as a config file lists them. */
export const targetNames = (count: number) =>
  Array.from({ length: count }, (_, i) => `t${String(i).padStart(3, '0')}`)

/** A BROKER_CONFIG with `count` static targets on the same login, readable by one client. */
export function staticTargetsConfig(
  count: number,
  env: Record<string, string>,
  token: string,
): string {
  const targets = Object.fromEntries(
    targetNames(count).map((name) => [name, { provider: 'static', env }]),
  )
  return JSON.stringify({ targets, clients: [{ name: 'bench', token, targets: '*' }] })
}

/**
 * Cache hits on a broker with one static target against one with a hundred (BROKER_CONFIG), the
 * same 64 connections, interleaved. Every connection walks through all the targets in turn, so
 * the hundred-target broker answers each of its targets equally often: what a per-request cost
 * that grows with the targets (a scan, a per-target metric label, a cache per target) would show.
 */
async function measureTargetsScaling(options: TargetsScalingOptions): Promise<TargetsScaling> {
  const env = {
    ...options.postgresEnv,
    PGUSER: options.user,
    PGPASSWORD: options.password,
  }
  const start = async (count: number) => {
    const config = join(options.dir, `broker-${count}-targets.json`)
    await writeFile(config, staticTargetsConfig(count, env, options.token), { mode: 0o600 })
    const port = await freePort()
    const broker = options.started(
      `broker-${count}-targets`,
      spawnNode(options.brokerEntry, {
        BROKER_CONFIG: config,
        BROKER_PORT: String(port),
        BROKER_DRAIN_S: '0',
        XDG_CONFIG_HOME: '/nonexistent',
      }),
    )
    await broker.waitFor(/broker listening/)
    await untilReady(`http://127.0.0.1:${port}`)
    const paths = targetNames(count).map((name) => `/v1/credentials/${name}`)
    return { broker, url: `http://127.0.0.1:${port}`, paths }
  }
  const one = await start(1)
  const many = await start(MANY_TARGETS)
  const run = (server: typeof one, durationS: number) =>
    load({
      url: `${server.url}${server.paths[0]}`,
      paths: server.paths,
      connections: BROKER_CONNECTIONS,
      durationS,
      headers: { authorization: `Bearer ${options.token}` },
    })
  try {
    await run(one, WARMUP_S)
    await run(many, WARMUP_S)
    const results = await runInterleaved(
      { one: () => run(one, options.durationS), many: () => run(many, options.durationS) },
      options.rounds,
    )
    const ratios = results.many.map((m, i) => m.okPerS / (results.one[i]?.okPerS ?? Number.NaN))
    return {
      ratio: median(ratios),
      oneOkPerS: median(results.one.map((r) => r.okPerS)),
      manyOkPerS: median(results.many.map((r) => r.okPerS)),
      failed: [...results.one, ...results.many].reduce((n, r) => n + r.non2xx + r.errors, 0),
      ratios,
    }
  } finally {
    await Promise.all([one.broker.stop(), many.broker.stop()])
  }
}

/** The targets figure: two brokers of static targets serving the steady broker's login. */
export async function runTargetsScaling({
  plan,
  progress,
  stack,
}: StackFigureContext): Promise<TargetsScaling> {
  progress(
    `broker hits, ${MANY_TARGETS} static targets vs 1: ${plan.targetsRounds} interleaved rounds of ${plan.targetsRunS} s`,
  )
  const figure = await measureTargetsScaling({
    brokerEntry: stack.entries.broker,
    dir: stack.cache,
    postgresEnv: stack.postgresEnv,
    user: stack.broker.credential.user,
    password: stack.broker.credential.password,
    token: CLIENT_TOKEN,
    rounds: plan.targetsRounds,
    durationS: plan.targetsRunS,
    started: stack.started,
  })
  progress(`  ${round(figure.manyOkPerS, 0)} vs ${round(figure.oneOkPerS, 0)} req/s`)
  return figure
}

/** `targets_scaling`, with both brokers' req/s. */
export function targetsScalingReport(targets: TargetsScaling): FigureReport {
  return {
    values: { targets_scaling: targets.ratio },
    rounds: { targets_scaling: targets.ratios },
    notes: {
      targets_scaling: `${round(targets.manyOkPerS, 0)} vs ${round(targets.oneOkPerS, 0)} req/s`,
    },
    details: { targets },
  }
}
