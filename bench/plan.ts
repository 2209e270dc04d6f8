/** The figures `--only` can pick, in the order the bench takes them. */
export const FIGURES = [
  'start',
  'broker',
  'targets',
  'cold',
  'clients',
  'functions',
  'rotation',
  'pooler',
] as const
export type FigureName = (typeof FIGURES)[number]

/**
 * Figures taken only when `--only` names them: the full bench stays within {@link BUDGET_S}.
 * `pooler` needs PgBouncer installed (`apt-get install pgbouncer`).
 */
export const OPT_IN_FIGURES: readonly FigureName[] = ['pooler']

/** Whether a run with `--only` (undefined: none given) takes `figure`. */
export function isWanted(figure: FigureName, only: ReadonlySet<FigureName> | undefined): boolean {
  return only === undefined ? !OPT_IN_FIGURES.includes(figure) : only.has(figure)
}

/** How many interleaved rounds each comparison runs, and how long each measured run lasts. */
export interface Plan {
  brokerRounds: number
  brokerRunS: number
  targetsRounds: number
  targetsRunS: number
  functionsRounds: number
  functionsRunS: number
  rotationRounds: number
  rotationRunS: number
  poolerRounds: number
  poolerRunS: number
}

/** Variants interleaved in each comparison (each one runs once per round). */
export const VARIANTS = {
  /** broker, bare Hono. */
  broker: 2,
  /** one target, a hundred targets. */
  targets: 2,
  /**
   * functions (broker), static password, the static server again (the A/A control), bare stack,
   * raw postgres.js, createSql, createPool, a bare pg.Pool.
   */
  functions: 8,
  /** broker, broker with dropped connections, per-connection token, @databricks/lakebase. */
  rotation: 4,
  /** direct, through PgBouncer; each once per round, then once each with -C and as N services. */
  pooler: 2,
} as const
/** Every variant first runs once unrecorded for this long (JIT, pools), and each rotation run too. */
export const WARMUP_S = 1
/**
 * …but the functions' variants for this long: after 1 s their first round still cost a third
 * more CPU per request than the rounds after it.
 */
export const FUNCTIONS_WARMUP_S = 2

/**
 * Seconds outside the measured runs on the 2-core machine of BENCHMARKS.md: the earlier bench
 * took 3.7 minutes for 193 s of runs, so ~30 s went to `npm start` twice, compiling the servers,
 * Postgres with its 6000 rows, the cold burst and starting the servers; the 1000 clients (~10 s),
 * the target brokers and the three new servers (~5 s) add to it, and some slack (compiling alone
 * took 18–25 s on the busy machine).
 */
export const FIXED_OVERHEAD_S = 55

/**
 * The full bench: 349 s by {@link plannedSeconds}, within the 6 minutes.
 *
 * | comparison | variants | rounds × run | measured |
 * |---|---|---|---|
 * | broker ÷ bare Hono, p99 ratio | 2 | 6 × 3 s | 36 s (+ node:http alone, 1 + 3 s, for memory) |
 * | 100 targets ÷ 1 target | 2 | 5 × 3 s | 30 s |
 * | functions ÷ static ÷ A/A ÷ bare stack ÷ raw, pg ÷ postgres, pg ÷ bare pg.Pool | 8 | 6 × 2 s, in 1 s slices | 96 s (+ 2 s warm-ups) |
 * | rotation | 4 | 3 × 8 s | 96 s (+ a 1 s warm-up per run) |
 *
 * Why these: a hit on the broker or the bare route takes 30–70 µs, so even 3 s is ~50 000
 * requests per run and the counting noise of a run is far below 1 %; what moves a ratio is the
 * machine drifting (other processes, the heap, CPU frequency) between runs, which interleaving
 * cancels and more rounds average out. Six rounds for the broker ratios, whose goal margins are
 * tightest (≥ 1.0 and ≤ 1.0), five for the others (≥ 0.95, ≥ 0.9 and the 5 % spread of
 * functions ÷ static). A rotation run needs one or two rotations (a token refreshes every ~6 s),
 * hence 8 s; three rounds give 3–6 rotations per design for the p99 around them.
 */
export const FULL: Plan = {
  brokerRounds: 6,
  brokerRunS: 3,
  targetsRounds: 5,
  targetsRunS: 3,
  functionsRounds: 6,
  functionsRunS: 2,
  rotationRounds: 3,
  rotationRunS: 8,
  poolerRounds: 5,
  poolerRunS: 2,
}

/** `--quick`: every figure once or twice, briefly — a smoke test of the bench, not a measurement. */
export const QUICK: Plan = {
  brokerRounds: 2,
  brokerRunS: 1,
  targetsRounds: 2,
  targetsRunS: 1,
  functionsRounds: 1,
  functionsRunS: 2,
  rotationRounds: 1,
  rotationRunS: 8,
  poolerRounds: 1,
  poolerRunS: 1,
}

/** The limit the issue sets on the whole bench. */
export const BUDGET_S = 6 * 60

/**
 * How long a plan takes, by the counts above: each comparison's warm-ups and measured runs, and
 * {@link FIXED_OVERHEAD_S}; only the figures in `only` when given.
 */
export function plannedSeconds(plan: Plan, only?: ReadonlySet<FigureName>): number {
  const wanted = (figure: FigureName) => isWanted(figure, only)
  const comparison = (variants: number, rounds: number, runS: number) =>
    variants * WARMUP_S + variants * rounds * runS
  let seconds = FIXED_OVERHEAD_S
  if (wanted('broker')) {
    seconds += comparison(VARIANTS.broker, plan.brokerRounds, plan.brokerRunS)
    // node:http alone, for the memory floor: a warm-up and one run.
    seconds += WARMUP_S + plan.brokerRunS
  }
  if (wanted('targets'))
    seconds += comparison(VARIANTS.targets, plan.targetsRounds, plan.targetsRunS)
  if (wanted('functions')) {
    seconds += VARIANTS.functions * (FUNCTIONS_WARMUP_S + plan.functionsRounds * plan.functionsRunS)
  }
  if (wanted('rotation'))
    seconds += VARIANTS.rotation * plan.rotationRounds * (plan.rotationRunS + WARMUP_S)
  // The rounds, then -C and the services, each direct and pooled.
  if (wanted('pooler')) seconds += VARIANTS.pooler * (plan.poolerRounds + 2) * plan.poolerRunS
  return seconds
}

/** The figures `--only a,b` names, checked against {@link FIGURES}; undefined for all. */
export function parseOnly(value: string | undefined): Set<FigureName> | undefined {
  if (value === undefined) return undefined
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  for (const name of names) {
    if (!(FIGURES as readonly string[]).includes(name))
      throw new Error(`--only: no figure "${name}" (one of ${FIGURES.join(', ')})`)
  }
  if (names.length === 0) throw new Error(`--only needs a figure: ${FIGURES.join(', ')}`)
  return new Set(names as FigureName[])
}
