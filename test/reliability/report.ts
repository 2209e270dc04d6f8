/**
 * `npm run test:reliability`: runs the reliability suite at full counts, then prints one table of
 * the figures the tests measured (read from the JSON files they wrote, never typed in here) and
 * exits non-zero if the run failed or any figure misses its target.
 *
 * Options: `-- --no-run` prints the table from the last run's files without running anything.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ARTIFACTS = join(ROOT, 'test-artifacts', 'reliability')
const SUITE = ['test/reliability', 'test/testing']
/** The issue's bar for generated bad requests in the full run. */
const MIN_BAD_REQUESTS = 10_000
/** The figures below come from these test files; each must have recorded its own. */
const TEST_FILES = readdirSync(join(ROOT, 'test/reliability')).filter((f) => f.endsWith('.test.ts'))

type Json = Record<string, unknown>

function read(section: string): Json | undefined {
  const path = join(ARTIFACTS, `${section}.json`)
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Json) : undefined
}

function readAll(prefix: string): Json[] {
  if (!existsSync(ARTIFACTS)) return []
  return readdirSync(ARTIFACTS)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(ARTIFACTS, f), 'utf8')) as Json)
}

const num = (value: unknown): number => (typeof value === 'number' ? value : Number.NaN)
const sum = (rows: Json[], key: string) => rows.reduce((total, r) => total + num(r[key]), 0)

interface Row {
  figure: string
  value: string
  target: string
  ok: boolean
  detail?: string
}

/** `vitestExit` is undefined when nothing was run (`--no-run`). */
function rows(vitestExit: number | null | undefined): Row[] {
  const out: Row[] = []
  const missing = (figure: string, target: string): Row => ({
    figure,
    value: 'not measured',
    target,
    ok: false,
  })

  const faults = read('faults')
  if (faults) {
    const kinds = (faults.kinds as string[]) ?? []
    const survived = (faults.survived as string[]) ?? []
    const lost = kinds.filter((k) => !survived.includes(k))
    out.push({
      figure: 'Fault kinds survived',
      value: `${survived.length}/${kinds.length}`,
      target: `${kinds.length}/${kinds.length}`,
      ok: kinds.length === 12 && lost.length === 0,
      detail: lost.length > 0 ? `not survived: ${lost.join(', ')}` : undefined,
    })
  } else out.push(missing('Fault kinds survived', '12/12'))

  const PERMANENT_FIGURE =
    'Upstream 401/403/404/expired CLI login while holding a valid credential: new clients served / failed'
  const window = faults?.permanentWindow as Record<string, { served: number; failed: number }>
  if (window && Object.keys(window).length > 0) {
    const cases = Object.values(window)
    const served = cases.reduce((n, c) => n + c.served, 0)
    const failed = cases.reduce((n, c) => n + c.failed, 0)
    out.push({
      figure: PERMANENT_FIGURE,
      value: `${served} / ${failed}`,
      target: 'all served until expiry / 0',
      ok: Object.keys(window).length === 4 && served > 0 && failed === 0,
      detail: `cases: ${Object.keys(window).join(', ')}`,
    })
  } else out.push(missing(PERMANENT_FIGURE, 'all served until expiry / 0'))

  const broker = read('broker-restart')
  const postgres = read('postgres-restart')
  const restarts = [broker, postgres]
  out.push({
    figure: 'Restarts survived (broker, Postgres)',
    value: `${restarts.filter((r) => r?.survived === true).length}/2`,
    target: '2/2',
    ok: restarts.every((r) => r?.survived === true),
    detail: [
      broker
        ? `broker: ${broker.requests} requests, ${broker.failed} failed, ${broker.loginsWhileDown} logins while down, cold instance served ${broker.coldServedAfterMs} ms after`
        : 'broker: not measured',
      postgres
        ? `Postgres: ${postgres.requests} requests, ${postgres.outage503} × 503 in the outage, slowest ${postgres.maxLatencyMs} ms, recovered ${postgres.recoveredAfterMs} ms after`
        : 'Postgres: not measured',
    ].join('; '),
  })

  const pgKill = read('postgres-sigkill')
  const brokerKill = read('broker-sigkill')
  const killRuns = [pgKill, brokerKill]
  const restartsOf = (run: Json | undefined) => (run?.restarts as Json[] | undefined) ?? []
  const killsSurvived = (run: Json | undefined) => (run?.survived === true ? num(run.kills) : 0)
  const recoveries = (run: Json | undefined, key: string) =>
    restartsOf(run)
      .map((r) => `${r[key]} ms`)
      .join(', ')
  out.push({
    figure: 'SIGKILL restarts survived (Postgres, broker)',
    value: `${killsSurvived(pgKill) + killsSurvived(brokerKill)}/${num(pgKill?.kills) + num(brokerKill?.kills)}`,
    target: 'all, 0 writes lost',
    ok: killRuns.every((r) => r?.survived === true && num(r.kills) > 0),
    detail: [
      pgKill
        ? `Postgres: ${pgKill.kills} × SIGKILL to the postmaster under write load, recovered (kill → first 2xx) in ${recoveries(pgKill, 'recoveredAfterMs')}; ${pgKill.outage503} × 503 in the gaps, ${pgKill.otherFailures} other failures`
        : 'Postgres: not measured',
      brokerKill
        ? `broker: ${brokerKill.kills} × SIGKILL to its process under load, new process ready in ${recoveries(brokerKill, 'readyAfterMs')} (kill → ready ${recoveries(brokerKill, 'recoveredAfterMs')}); ${brokerKill.requests} requests, ${brokerKill.credentialFailures} failed for want of a credential, ${brokerKill.droppedConnectionFailures} cut by a backend kill`
        : 'broker: not measured',
    ].join('; '),
  })

  const forcedRun = read('forced-refresh')
  const writeRuns = [...restarts, ...killRuns, forcedRun]
  const writes = writeRuns.filter((r): r is Json => r !== undefined)
  out.push({
    figure: 'Acknowledged writes lost',
    value:
      writes.length === writeRuns.length
        ? `${sum(writes, 'lostWrites')} of ${sum(writes, 'acknowledgedWrites')}`
        : 'not measured',
    target: '0',
    ok:
      writes.length === writeRuns.length &&
      sum(writes, 'lostWrites') === 0 &&
      sum(writes, 'acknowledgedWrites') > 0,
    detail: `over the broker and Postgres restarts, both SIGKILL runs and the forced-refresh run (${writes.length} of ${writeRuns.length} measured)`,
  })

  const changed = writes.filter((r) => r.changedAnswers !== undefined)
  out.push({
    figure: 'Retried operations whose answer changed',
    value:
      changed.length === writeRuns.length ? String(sum(changed, 'changedAnswers')) : 'not measured',
    target: '0',
    ok: changed.length === writeRuns.length && sum(changed, 'changedAnswers') === 0,
    detail: `first upserts not answered 201 and new request_ids not answered 201, in every load run above (${changed.length} of ${writeRuns.length}); the commit-then-kill test is the database layer's`,
  })

  const hostile = read('hostile-mix')
  out.push(
    hostile
      ? {
          figure: 'Socket errors under the hostile mix (8 at a time)',
          value: String(hostile.socketErrors),
          target: '0',
          ok: hostile.socketErrors === 0 && hostile.fiveXx === 0,
          detail: `${hostile.requests} requests through Node's fetch to the functions and the broker, ${hostile.fiveXx} × 5xx${
            num(hostile.socketErrors) > 0
              ? `; by request: ${JSON.stringify(hostile.socketErrorsByShot)}`
              : ''
          }`,
        }
      : missing('Socket errors under the hostile mix (8 at a time)', '0'),
  )

  out.push(
    forcedRun
      ? {
          figure: 'Forced refreshes healed (credential invalidated by a second minter)',
          value: `${forcedRun.healed}/${forcedRun.invalidations}`,
          target: `${forcedRun.invalidations}/${forcedRun.invalidations}, 0 failed`,
          ok:
            num(forcedRun.invalidations) > 0 &&
            forcedRun.healed === forcedRun.invalidations &&
            forcedRun.forcedRefreshes === forcedRun.invalidations &&
            forcedRun.failed === 0,
          detail: `${forcedRun.requests} requests, ${forcedRun.failed} failed, ${forcedRun.forcedRefreshes} forced refreshes, slowest heal ${forcedRun.slowestHealMs} ms`,
        }
      : missing('Forced refreshes healed (credential invalidated by a second minter)', 'n/n'),
  )

  const bad = read('bad-input')
  if (bad) {
    out.push({
      figure: 'Bad requests tried / 5xx seen',
      value: `${num(bad.tried).toLocaleString('en-US')} / ${bad.fiveXx}`,
      target: `≥ ${MIN_BAD_REQUESTS.toLocaleString('en-US')} / 0`,
      ok: num(bad.tried) >= MIN_BAD_REQUESTS && bad.fiveXx === 0,
      detail: `${bad.refused} refused: ${bad.refusedWithoutErrorCode} without an error_code, ${bad.changedByRefused} changed data; ${bad.seconds} s`,
    })
    out.push({
      figure: 'Refused requests without error_code / that changed data',
      value: `${bad.refusedWithoutErrorCode} / ${bad.changedByRefused}`,
      target: '0 / 0',
      ok: bad.refusedWithoutErrorCode === 0 && bad.changedByRefused === 0,
    })
  } else out.push(missing('Bad requests tried / 5xx seen', `≥ ${MIN_BAD_REQUESTS} / 0`))

  const attacks = read('broker-attacks')
  out.push(
    attacks
      ? {
          figure: 'Attacks on the broker endpoint refused',
          value: `${attacks.refused}/${attacks.tried}`,
          target: `${attacks.tried}/${attacks.tried}`,
          ok: num(attacks.tried) > 0 && attacks.refused === attacks.tried,
        }
      : missing('Attacks on the broker endpoint refused', 'all'),
  )

  const budget = read('outage-budget')
  out.push(
    budget
      ? {
          figure: 'Outage survived with BROKER_OUTAGE_BUDGET_S (s)',
          value: `${budget.survivedWithBudgetS} (without: ${budget.survivedWithoutBudgetS})`,
          target: `≥ ${budget.budgetS}`,
          ok: num(budget.survivedWithBudgetS) >= num(budget.budgetS) && budget.warned === true,
        }
      : missing('Outage survived with BROKER_OUTAGE_BUDGET_S (s)', '≥ budget'),
  )

  const secrets = readAll('secrets-')
  out.push({
    figure: 'Secrets found in logs, error bodies, metrics',
    value: String(sum(secrets, 'found')),
    target: '0',
    ok: secrets.length >= TEST_FILES.length && sum(secrets, 'found') === 0,
    detail: `${sum(secrets, 'secrets')} secrets searched for in ${sum(secrets, 'outputs')} outputs (${Math.round(sum(secrets, 'bytes') / 1024)} KB) from ${secrets.length} of ${TEST_FILES.length} files`,
  })

  const unhandled = readAll('unhandled-')
  out.push({
    figure: 'Unhandled rejections',
    value: String(sum(unhandled, 'count')),
    target: '0',
    ok: unhandled.length >= TEST_FILES.length && sum(unhandled, 'count') === 0,
    detail: `counted in ${unhandled.length} test files`,
  })

  if (vitestExit !== undefined) {
    out.push({
      figure: 'Test run',
      value: vitestExit === 0 ? 'passed' : `failed (exit ${vitestExit})`,
      target: 'passed',
      ok: vitestExit === 0,
    })
  }
  return out
}

function print(table: Row[]): void {
  const headers = ['', 'Figure', 'Measured', 'Target']
  const lines = table.map((r) => [r.ok ? '✔' : '✘', r.figure, r.value, r.target])
  const widths = headers.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)))
  const format = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  console.log('\nReliability report\n')
  console.log(format(headers))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const line of lines) console.log(format(line))
  const details = table.filter((r) => r.detail)
  if (details.length > 0) console.log('')
  for (const r of details) console.log(`${r.ok ? '✔' : '✘'} ${r.figure}: ${r.detail}`)
  console.log(`\nFigures from ${ARTIFACTS}`)
}

async function runSuite(): Promise<number | null> {
  rmSync(ARTIFACTS, { recursive: true, force: true })
  const vitest = join(ROOT, 'node_modules', '.bin', 'vitest')
  const child = spawn(vitest, ['run', ...SUITE], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, RELIABILITY_FULL: '1', RELIABILITY_ARTIFACTS: ARTIFACTS },
  })
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'no-run': { type: 'boolean' } } })
  const started = Date.now()
  const exit = values['no-run'] ? undefined : await runSuite()
  const table = rows(exit)
  print(table)
  if (!values['no-run']) console.log(`Run took ${Math.round((Date.now() - started) / 1000)} s`)
  const misses = table.filter((r) => !r.ok)
  if (misses.length > 0) {
    console.log(`\n${misses.length} figure(s) missed: ${misses.map((r) => r.figure).join('; ')}`)
    process.exitCode = 1
  }
}

await main()
