import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from '../../test/support/free-port.js'
import { type Child, spawnNode } from '../child-process.js'
import { runInterleaved } from '../interleave.js'
import { load } from '../load.js'
import { median } from '../stats.js'
import { BROKER_CONNECTIONS } from './broker-throughput.js'

/** The many-target broker. */
export const MANY_TARGETS = 100
/** A short unrecorded run first, so that both brokers are measured with optimised code. */
const WARMUP_S = 1

export interface TargetsScalingOptions {
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
  /** Resolves once the broker at the URL holds a valid credential for every target. */
  untilReady: (url: string) => Promise<void>
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
export async function measureTargetsScaling(
  options: TargetsScalingOptions,
): Promise<TargetsScaling> {
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
    await options.untilReady(`http://127.0.0.1:${port}`)
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
