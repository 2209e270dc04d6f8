/**
 * Words that make a statement write, or that have an effect a second run would repeat: `into`
 * (`select … into`, `insert into`), sequence calls, notifications and large-object writes.
 * Matched anywhere in the text, string literals included: a false "writes" only costs a retry.
 */
const WRITES =
  /\b(insert|update|delete|merge|into|copy|call|do|lock|nextval|setval|pg_notify|lo_\w+|dblink\w*)\b/i

/** Statements that begin with one of these words can only read (unless WRITES says otherwise). */
const READS = new Set(['select', 'with', 'values', 'table', 'show'])

/** Comments and white space before the first word. */
const LEADING = /^(\s+|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*/

/**
 * Whether one SQL statement can be run a second time without changing the answer: a `SELECT`
 * (or `WITH`, `VALUES`, `TABLE`, `SHOW`) that names nothing in {@link WRITES} and is a single
 * statement. It errs towards "no": a statement it does not recognise is not retried.
 *
 * Trap: a `SELECT` that calls a function of yours which writes looks read-only from its text;
 * give `createPool` your own `isReadOnly` if your queries do that.
 */
export function isReadOnlyStatement(text: string): boolean {
  const body = text.replace(LEADING, '')
  const first = /^[a-z]+/i.exec(body)?.[0]?.toLowerCase()
  if (first === undefined || !READS.has(first)) return false
  // Several statements in one text: the later ones may write.
  if (/;\s*\S/.test(body)) return false
  return !WRITES.test(body)
}
