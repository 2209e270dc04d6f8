import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * `npm run test:reliability` sets this: the full counts (10,000 bad requests…) instead of the
 * quick subset `npm test` runs.
 */
export const FULL_RUN = process.env.RELIABILITY_FULL === '1'

/**
 * Where the reliability run collects the figures its tests measured, one JSON file per section;
 * the report reads them. Unset under `npm test`, which records nothing.
 */
export const ARTIFACTS_DIR = process.env.RELIABILITY_ARTIFACTS

/** A count from the environment (for a longer or shorter run), else the run's default. */
export function countFromEnv(name: string, full: number, quick: number): number {
  const raw = process.env[name]
  if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw)
  return FULL_RUN ? full : quick
}

/** Merges `figures` into the section's JSON file (a no-op outside the reliability run). */
export function recordFigures(section: string, figures: Record<string, unknown>): void {
  if (ARTIFACTS_DIR === undefined || ARTIFACTS_DIR === '') return
  mkdirSync(ARTIFACTS_DIR, { recursive: true })
  const path = join(ARTIFACTS_DIR, `${section}.json`)
  const previous = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)
    : {}
  writeFileSync(path, `${JSON.stringify({ ...previous, ...figures }, null, 2)}\n`)
}
