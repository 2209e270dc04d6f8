import type { Plan } from '../plan.js'
import type { BenchStack } from '../stack.js'

/** What every figure's run is given: the plan, the repository, and where progress goes. */
export interface FigureContext {
  plan: Plan
  /** The repository's root, where `npm start` runs. */
  root: string
  /** A line on stderr, stamped with the time since the bench began. */
  progress(message: string): void
}

/** What a figure that runs against the bench's servers is given: the shared stack too. */
export interface StackFigureContext extends FigureContext {
  stack: BenchStack
}
