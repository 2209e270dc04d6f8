import { codeOf, maskLiterals } from './sql-scan.js'

/** A statement template is logged up to this length: enough to recognise it, never a dump. */
export const MAX_LOGGED_STATEMENT_CHARS = 300

/** Statements that begin like this only read, unless they also contain a {@link WRITES} word. */
const READS = /^(select|with|show|values|table|explain)\b/i
/**
 * Words that make a statement (or a CTE in it) write, lock or change state, or have an effect a
 * second run would repeat: a retry of such a statement after it may have run could change the
 * answer. `into` catches `select … into`, `analyze` catches `explain analyze` (which runs the
 * statement); sequences, notifications, advisory locks, large objects and dblink repeat.
 */
const WRITES =
  /\b(insert|update|delete|merge|into|nextval|setval|lock|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share|pg_advisory\w*|set_config|analyze|call|do|copy|notify|pg_notify|lo_\w+|dblink\w*)\b/i

/**
 * Whether one statement can run a second time without changing the answer, judged from its text:
 * a single `SELECT` (or `WITH`, `VALUES`, `TABLE`, `SHOW`, `EXPLAIN`) naming nothing in
 * {@link WRITES}. Conservative: a read is sometimes taken for a write (then not retried after it
 * may have run), never the other way round — except for a function that writes behind a plain
 * `select f()`, which no text can show. Both driver entries retry by this one rule.
 */
export function isReadOnly(text: string): boolean {
  // Comments and literals set aside: neither can make a statement write, and either could hide
  // a `;` or a word from the checks below, or show one that is not code.
  const code = codeOf(text).trim()
  if (!READS.test(code)) return false
  // Several statements in one text: the later ones may write.
  if (/;\s*\S/.test(code)) return false
  return !WRITES.test(code)
}

/**
 * What a session with `default_transaction_read_only=on` still lets a statement do that a second
 * run would repeat, or what lifts that guard: notifications, dblink (its writes land elsewhere),
 * and turning read-write (`SET TRANSACTION READ WRITE`, `set_config`, the setting by name).
 * Every other write is refused by Postgres (25006), so running it twice cannot change the answer.
 * `do` too: a DO block's body is a literal, which the check sets aside, so what it runs is unseen.
 */
const ESCAPES_READ_ONLY =
  /\b(notify|pg_notify|dblink\w*|set_config|read\s+write|(default_)?transaction_read_only|do)\b/i

/**
 * Whether one statement can run a second time without changing the answer in a read-only
 * session (`readOnly: true`): every statement can, except what {@link ESCAPES_READ_ONLY} names.
 * Judged from the text with comments and literals set aside, as {@link isReadOnly} is.
 */
export function isRepeatableWhenReadOnly(text: string): boolean {
  return !ESCAPES_READ_ONLY.test(codeOf(text))
}

/**
 * A statement as a log field or span attribute (`db.query.text`): its template with `$n` where
 * values go, so no parameter ever reaches a log, and every literal written into the text (`'…'`,
 * `E'…'`, `$$…$$`, `$tag$…$tag$`) as `'…'`, since it could be a value too; comments go, since
 * they can carry anything. Shortened to {@link MAX_LOGGED_STATEMENT_CHARS}.
 */
export function statementTemplate(strings: readonly string[]): string {
  const text = maskLiterals(strings.map((s, i) => (i === 0 ? s : `$${i}${s}`)).join(''))
    .replace(/\s+/g, ' ')
    .trim()
  return text.length > MAX_LOGGED_STATEMENT_CHARS
    ? `${text.slice(0, MAX_LOGGED_STATEMENT_CHARS)}…`
    : text
}
