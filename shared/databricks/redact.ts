const REDACTED = '[REDACTED]'

/**
 * Shapes of secrets that could appear in text we did not write (an upstream error message, a
 * CLI's stderr): JWTs (workspace and database tokens), Databricks PATs (`dapi…`) and OAuth
 * client secrets (`dose…`).
 */
const SECRET_SHAPES: readonly RegExp[] = [
  /eyJ[\w-]+\.[\w-]+\.[\w-]*/g,
  /\bdapi[0-9a-f]{32}(-\d+)?\b/gi,
  /\bdose[0-9a-f]{32}\b/gi,
]

/**
 * Removes every known secret, and anything shaped like a token, from text that is about to go
 * into an error message. Upstream services should never echo a credential, but a message is
 * shown to clients and logged, so it is not left to chance.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join(REDACTED)
  }
  for (const shape of SECRET_SHAPES) out = out.replace(shape, REDACTED)
  return out
}
