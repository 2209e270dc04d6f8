import type { ScriptStep } from '../script.js'

/** The 400's message for `claims` of the wrong shape, on both credential routes. */
export const CLAIMS_SHAPE = 'claims must be a list of {permission_set, resources?}'

/** A JSON object body, or undefined for anything else (absent, not JSON, not an object). */
export function parseJson(body: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body ?? '')
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** A request's `claims`: undefined when absent, 'invalid' when not a list of claims. */
export function readClaims(value: unknown): unknown[] | undefined | 'invalid' {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) return 'invalid'
  const valid = value.every(
    (claim) =>
      typeof claim === 'object' &&
      claim !== null &&
      typeof (claim as { permission_set?: unknown }).permission_set === 'string',
  )
  return valid ? value : 'invalid'
}

/** What a credential route's step says about the token it mints. */
export function stepMint(step: ScriptStep) {
  return { lifetimeS: step.lifetimeS, noSub: step.noSub, expired: step.expired }
}
