/** A statement template is logged up to this length: enough to recognise it, never a dump. */
export const MAX_LOGGED_STATEMENT_CHARS = 300

/** Statements that begin like this only read, unless they also contain a {@link WRITES} word. */
const READS = /^\s*(select|with|show|values|table|explain)\b/i
/**
 * Words that make a statement (or a CTE in it) write, lock or change state: a retry of such a
 * statement after it may have run could change the answer. `into` catches `select … into`,
 * `analyze` catches `explain analyze` (which runs the statement).
 */
const WRITES =
  /\b(insert|update|delete|merge|into|nextval|setval|lock|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share|pg_advisory\w*|set_config|analyze|call|do|copy|notify)\b/i

/**
 * Whether a statement only reads, judged from its text: conservative, so a read is sometimes
 * taken for a write (then not retried after it may have run), never the other way round — except
 * for a function that writes behind a plain `select f()`, which no text can show.
 */
export function isReadOnly(text: string): boolean {
  const code = text.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'/g, ' ')
  return READS.test(code) && !WRITES.test(code)
}

/**
 * A statement as a log field: its template with `$n` where values go, so no parameter ever
 * reaches a log; shortened to {@link MAX_LOGGED_STATEMENT_CHARS}.
 */
export function statementTemplate(strings: readonly string[]): string {
  const text = strings
    .map((s, i) => (i === 0 ? s : `$${i}${s}`))
    .join('')
    // A literal written into the text could be a value too.
    .replace(/'(?:[^']|'')*'/g, "'…'")
    .replace(/\s+/g, ' ')
    .trim()
  return text.length > MAX_LOGGED_STATEMENT_CHARS
    ? `${text.slice(0, MAX_LOGGED_STATEMENT_CHARS)}…`
    : text
}
