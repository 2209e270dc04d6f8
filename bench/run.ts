import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runBrokerThroughput } from './figures/broker-throughput.js'
import { runClientsScaling } from './figures/clients-scaling.js'
import { runColdBurst } from './figures/cold-burst.js'
import type { FigureContext } from './figures/context.js'
import { runFunctionsThroughput } from './figures/functions-throughput.js'
import { runPooler } from './figures/pooler.js'
import { runRotation } from './figures/rotation.js'
import { runStartTime } from './figures/start-time.js'
import { runTargetsScaling } from './figures/targets-scaling.js'
import {
  BUDGET_S,
  FIGURES,
  type FigureName,
  FULL,
  isWanted,
  parseOnly,
  plannedSeconds,
  QUICK,
} from './plan.js'
import { type Measured, runReport } from './run-report.js'
import { startBenchStack, upstreamLatencyFromEnv } from './stack.js'
import { round } from './stats.js'
import { Teardown } from './teardown.js'

const HELP = `Usage: npm run bench [-- --json FILE] [-- --quick] [-- --only FIGURES]

Measures the broker and the functions against a real (embedded) Postgres and a mocked Databricks
workspace on loopback, each comparison interleaved in one process tree, and prints a table of the
figures against the goals of the benchmark issues. Takes about five and a half minutes on two
cores (bench/plan.ts has the budget).

  --json FILE      also write the figures as JSON to FILE
  --quick          fewer and shorter runs: a smoke test, not a measurement
  --only FIGURES   only these figures, comma-separated: ${FIGURES.join(', ')}
                   (the others are null in the JSON and "not measured" in the table);
                   pooler (the local PgBouncer; needs \`apt-get install pgbouncer\`) is
                   taken only when named here`

const began = performance.now()
function progress(message: string): void {
  const s = ((performance.now() - began) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[bench ${s} s] ${message}\n`)
}

/** The command line: the plan, `--only`'s figures, `--json`'s file; undefined after `--help`. */
function commandLine() {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return undefined
  }
  return { plan: values.quick ? QUICK : FULL, only: parseOnly(values.only), jsonFile: values.json }
}

/**
 * Takes the planned figures in the order of {@link FIGURES}: the start time first, before the
 * bench starts anything of its own, then the others on one shared stack of servers; then reports.
 */
async function main(): Promise<void> {
  const command = commandLine()
  if (!command) return
  const { plan, only, jsonFile } = command
  const wanted = (figure: FigureName) => isWanted(figure, only)
  const upstreamLatencyMs = upstreamLatencyFromEnv()
  const root = fileURLToPath(new URL('..', import.meta.url))
  const loadBefore = loadavg()
  const teardown = new Teardown()
  process.once('SIGINT', () => void teardown.run().finally(() => process.exit(130)))
  progress(`planned: about ${Math.round(plannedSeconds(plan, only))} s`)

  const context: FigureContext = { plan, root, progress }
  const measured: Measured = {}
  try {
    if (wanted('start')) measured.start = await runStartTime(context)
    if (FIGURES.some((figure) => figure !== 'start' && wanted(figure))) {
      const stack = await startBenchStack({ root, upstreamLatencyMs, teardown, progress })
      const withStack = { ...context, stack }
      if (wanted('broker')) measured.broker = await runBrokerThroughput(withStack)
      if (wanted('targets')) measured.targets = await runTargetsScaling(withStack)
      if (wanted('cold')) measured.cold = await runColdBurst(withStack)
      if (wanted('clients')) measured.clients = await runClientsScaling(withStack)
      if (wanted('functions')) measured.functions = await runFunctionsThroughput(withStack)
      if (wanted('rotation')) measured.rotation = await runRotation(withStack)
      if (wanted('pooler')) measured.pooler = await runPooler(withStack)
    }
    await teardown.run()
    const elapsedS = (performance.now() - began) / 1000

    const { json, table } = runReport(measured, {
      plan,
      only,
      elapsedS,
      loadBefore,
      upstreamLatencyMs,
    })
    console.log(table)
    if (jsonFile) {
      await writeFile(jsonFile, `${JSON.stringify(json, null, 2)}\n`)
      progress(`figures written to ${jsonFile}`)
    }
    progress(
      `done in ${round(elapsedS, 0)} s (planned ${round(plannedSeconds(plan, only), 0)} s, budget ${BUDGET_S} s)`,
    )
  } finally {
    await teardown.run()
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exit(1)
})
