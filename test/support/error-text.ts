import { inspect } from 'node:util'

/**
 * Everything a thrown value could reveal when logged or rendered: its message, its own
 * properties, and the same for each `cause` down the chain. Tests search this for secrets.
 */
export function errorText(err: unknown): string {
  const parts: string[] = []
  let current: unknown = err
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.name, current.message, current.stack ?? '')
      parts.push(JSON.stringify({ ...current }))
      current = current.cause
    } else {
      parts.push(
        typeof current === 'string' ? current : (JSON.stringify(current) ?? String(current)),
      )
      current = undefined
    }
  }
  parts.push(inspect(err, { depth: 10, showHidden: true }))
  return parts.join('\n')
}
