/** One run in an interleaved schedule: which variant, in which round. */
export interface Slot<L extends string> {
  label: L
  round: number
}

/**
 * The order in which variants run: every variant once per round, in the given order, round after
 * round (A B A B …). Interleaving spreads slow drifts of a shared machine (other jobs, thermal
 * throttling, a growing heap) evenly over the variants instead of onto whichever ran last.
 */
export function interleavedOrder<L extends string>(
  labels: readonly L[],
  rounds: number,
  { alternate = false }: { alternate?: boolean } = {},
): Slot<L>[] {
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new RangeError('rounds must be a positive integer')
  if (new Set(labels).size !== labels.length) throw new Error('variant labels must be distinct')
  const order: Slot<L>[] = []
  const reversed = [...labels].reverse()
  for (let round = 0; round < rounds; round++) {
    // Alternating (A B C, C B A, …): a drift that is steady over two rounds then costs each
    // variant the same, where in A B C order the later variants always run on the later machine.
    for (const label of alternate && round % 2 === 1 ? reversed : labels) {
      order.push({ label, round })
    }
  }
  return order
}

/** A variant of a comparison: one measured run, given its round. */
export type Variant = (round: number) => Promise<unknown>

/**
 * Runs each variant `rounds` times in {@link interleavedOrder} (the order of `variants`' keys,
 * alternating when asked) and returns every variant's results in round order.
 */
export async function runInterleaved<V extends Record<string, Variant>>(
  variants: V,
  rounds: number,
  options: { alternate?: boolean } = {},
): Promise<{ [K in keyof V]: Awaited<ReturnType<V[K]>>[] }> {
  const labels = Object.keys(variants) as (keyof V & string)[]
  const results = Object.fromEntries(labels.map((label) => [label, [] as unknown[]]))
  for (const { label, round } of interleavedOrder(labels, rounds, options)) {
    results[label]?.push(await (variants[label] as Variant)(round))
  }
  return results as { [K in keyof V]: Awaited<ReturnType<V[K]>>[] }
}
