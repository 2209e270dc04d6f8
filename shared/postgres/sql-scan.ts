/**
 * A piece of a SQL text: a `literal` (a value written into the text), a `comment`, or `code`
 * (everything else, quoted identifiers and `$n` parameters included).
 */
export interface SqlPart {
  kind: 'code' | 'literal' | 'comment'
  text: string
}

/** Where an identifier or keyword may start: Postgres's `ident_start`. */
const IDENT_START = /[A-Za-z_\u0080-\uffff]/
/** The rest of an identifier (`ident_cont`): `$` too, so `a$$b` is one name, not a dollar quote. */
const IDENT_REST = /[A-Za-z0-9_$\u0080-\uffff]*/y
/** A dollar-quote delimiter, `$$` or `$tag$` (a tag never starts with a digit: `$1` is a parameter). */
const DOLLAR_DELIMITER = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y

/**
 * Splits a SQL text the way Postgres's lexer does, as far as literals and comments go, so that
 * what is masked or set aside is exactly what Postgres reads as a value or a comment:
 *
 * - `'…'` with `''` for a quote. Backslashes are plain characters, as with
 *   `standard_conforming_strings = on` (Postgres's default since 9.1, and Lakebase's). The `B`,
 *   `X`, `N` and `U&` prefixes stay in the code before it: their literals follow the same rule.
 * - `E'…'`, where a backslash escapes the next character (`\'`, `\\`) and `''` is a quote too.
 * - `$$…$$` and `$tag$…$tag$`, with nothing escaped inside.
 * - `-- …` to the end of the line, and `/* … *\/`, which nest.
 * - `"…"` identifiers (with `""`) are code, so a quote inside one starts no literal; so is a
 *   `$n` parameter, and an identifier, read whole so that `a$$b` is not a dollar quote.
 *
 * An unterminated literal or comment runs to the end of the text, so nothing after its opening
 * is taken for code.
 */
export function scanSql(text: string): SqlPart[] {
  const parts: SqlPart[] = []
  let code = ''
  const push = (kind: SqlPart['kind'], start: number, end: number) => {
    if (code !== '') parts.push({ kind: 'code', text: code })
    code = ''
    parts.push({ kind, text: text.slice(start, end) })
    return end
  }
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    const next = text[i + 1]
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i)
      i = push('comment', i, end === -1 ? text.length : end)
    } else if (c === '/' && next === '*') {
      i = push('comment', i, blockCommentEnd(text, i))
    } else if (c === "'") {
      i = push('literal', i, quotedEnd(text, i + 1, false))
    } else if ((c === 'e' || c === 'E') && next === "'") {
      i = push('literal', i, quotedEnd(text, i + 2, true))
    } else if (c === '"') {
      const end = identifierEnd(text, i + 1)
      code += text.slice(i, end)
      i = end
    } else if (c === '$') {
      DOLLAR_DELIMITER.lastIndex = i
      const delimiter = DOLLAR_DELIMITER.exec(text)?.[0]
      if (delimiter === undefined) {
        code += c
        i += 1
      } else {
        const close = text.indexOf(delimiter, i + delimiter.length)
        i = push('literal', i, close === -1 ? text.length : close + delimiter.length)
      }
    } else if (IDENT_START.test(c)) {
      IDENT_REST.lastIndex = i + 1
      IDENT_REST.exec(text)
      code += text.slice(i, IDENT_REST.lastIndex)
      i = IDENT_REST.lastIndex
    } else {
      code += c
      i += 1
    }
  }
  if (code !== '') parts.push({ kind: 'code', text: code })
  return parts
}

/** The text with each literal as `'…'` and each comment as a space: no value is left in it. */
export function maskLiterals(text: string): string {
  return scanSql(text)
    .map((part) => (part.kind === 'code' ? part.text : part.kind === 'literal' ? "'…'" : ' '))
    .join('')
}

/** Only the code: literals and comments become a space, so neither can hide or add a word. */
export function codeOf(text: string): string {
  return scanSql(text)
    .map((part) => (part.kind === 'code' ? part.text : ' '))
    .join('')
}

/** The index after the quote that closes a literal whose content starts at `from`. */
function quotedEnd(text: string, from: number, backslashEscapes: boolean): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i]
    if (backslashEscapes && c === '\\') i += 1
    else if (c === "'") {
      if (text[i + 1] !== "'") return i + 1
      i += 1
    }
  }
  return text.length
}

/** The index after the `"` that closes a quoted identifier whose name starts at `from`. */
function identifierEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '"') {
      if (text[i + 1] !== '"') return i + 1
      i += 1
    }
  }
  return text.length
}

/** The index after the `*\/` that closes the block comment opened at `start`, nesting counted. */
function blockCommentEnd(text: string, start: number): number {
  let depth = 0
  for (let i = start; i < text.length - 1; i++) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth += 1
      i += 1
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth -= 1
      i += 1
      if (depth === 0) return i + 1
    }
  }
  return text.length
}
