import { round } from './stats.js'

/** An alternative design's figures under rotation, or why it could not be measured. */
export type AlternativeFigures =
  | {
      rotation_p99_ratio: number
      upstream_calls: number
      failed_requests: number
      rotations: number
    }
  | { error: string }

/** The figures `--json FILE` writes: the issue's keys first (all numbers), then the detail. */
export interface BenchJson {
  broker_vs_bare_hono: number
  broker_p99_ms: number
  cold_burst_upstream_calls: number
  functions_vs_static: number
  functions_vs_raw_pg: number
  rotation_failed_requests: number
  rotation_p99_ratio: number
  start_to_first_200_s: number
  broker_rss_mb: number
  alternatives: Record<string, AlternativeFigures>
  /** The broker's design again, with every Postgres connection dropped at each rotation. */
  rotation_dropped_connections: AlternativeFigures
  /** Each goal of the issue and whether this run met it. */
  goals: Record<string, { goal: string; met: boolean }>
  details: Record<string, unknown>
  machine: Record<string, unknown>
  settings: Record<string, unknown>
}

/** The issue's keys whose values must be numbers. */
export const NUMERIC_KEYS = [
  'broker_vs_bare_hono',
  'broker_p99_ms',
  'cold_burst_upstream_calls',
  'functions_vs_static',
  'functions_vs_raw_pg',
  'rotation_failed_requests',
  'rotation_p99_ratio',
  'start_to_first_200_s',
  'broker_rss_mb',
] as const
export type NumericKey = (typeof NUMERIC_KEYS)[number]

/** A goal from the issue: the figure must be at least, at most or exactly `target`. */
export interface Goal {
  key: NumericKey
  op: '>=' | '<=' | '='
  target: number
  unit?: string
}

export const GOALS: readonly Goal[] = [
  { key: 'broker_vs_bare_hono', op: '>=', target: 0.85 },
  { key: 'broker_p99_ms', op: '<=', target: 2, unit: 'ms' },
  { key: 'cold_burst_upstream_calls', op: '=', target: 1 },
  { key: 'functions_vs_static', op: '>=', target: 0.95 },
  { key: 'functions_vs_raw_pg', op: '>=', target: 0.5 },
  { key: 'rotation_failed_requests', op: '=', target: 0 },
  { key: 'rotation_p99_ratio', op: '<=', target: 1.2 },
  { key: 'start_to_first_200_s', op: '<=', target: 5, unit: 's' },
  { key: 'broker_rss_mb', op: '<=', target: 60, unit: 'MB' },
]

/** Whether `value` meets `goal`. */
export function meets(goal: Goal, value: number): boolean {
  if (!Number.isFinite(value)) return false
  if (goal.op === '>=') return value >= goal.target
  if (goal.op === '<=') return value <= goal.target
  return value === goal.target
}

const describeGoal = (goal: Goal) =>
  `${goal.op === '=' ? '=' : goal.op === '>=' ? '≥' : '≤'} ${goal.target}${goal.unit ? ` ${goal.unit}` : ''}`

/** Assembles the JSON report: the issue's figures (rounded), whether each goal was met, the rest. */
export function toJson(
  figures: Record<NumericKey, number>,
  rest: Pick<BenchJson, 'alternatives' | 'details' | 'machine' | 'settings'> & {
    rotationDroppedConnections: AlternativeFigures
  },
): BenchJson {
  const rounded = Object.fromEntries(NUMERIC_KEYS.map((k) => [k, round(figures[k], 3)])) as Record<
    NumericKey,
    number
  >
  const goals = Object.fromEntries(
    GOALS.map((g) => [g.key, { goal: describeGoal(g), met: meets(g, rounded[g.key]) }]),
  )
  return {
    ...rounded,
    rotation_dropped_connections: rest.rotationDroppedConnections,
    alternatives: rest.alternatives,
    goals,
    details: rest.details,
    machine: rest.machine,
    settings: rest.settings,
  }
}

/** One row of the printed table. */
export interface TableRow {
  figure: string
  result: string
  goal: string
  /** `met`, `MISSED`, or empty for rows without a goal. */
  status: string
}

/** A Markdown table, readable on a terminal and pasteable into BENCHMARKS.md. */
export function formatTable(rows: readonly TableRow[]): string {
  const header: TableRow = { figure: 'figure', result: 'result', goal: 'goal', status: '' }
  const all = [header, ...rows]
  const columns = ['figure', 'result', 'goal', 'status'] as const
  const widths = columns.map((c) => Math.max(...all.map((r) => r[c].length)))
  const line = (r: TableRow) =>
    `| ${columns.map((c, i) => r[c].padEnd(widths[i] as number)).join(' | ')} |`
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

/** The row of a goal figure: its value (with context) against its goal. */
export function goalRow(figure: string, key: NumericKey, value: number, context = ''): TableRow {
  const goal = GOALS.find((g) => g.key === key)
  if (!goal) throw new Error(`no goal for ${key}`)
  const unit = goal.unit ? ` ${goal.unit}` : ''
  return {
    figure,
    result: `${round(value, 2)}${unit}${context ? ` (${context})` : ''}`,
    goal: describeGoal(goal),
    status: meets(goal, round(value, 3)) ? 'met' : 'MISSED',
  }
}
