/**
 * The `error_code` of the contract's error body in `text`, or undefined when the text is not
 * such a body (not JSON, no `detail`, a code that is not a string): for tests that count
 * answers without an error code rather than fail on the first.
 */
export function errorCodeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { detail?: { error_code?: unknown } }).detail?.error_code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}
