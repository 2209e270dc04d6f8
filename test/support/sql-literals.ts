import fc from 'fast-check'

/**
 * Every generated literal value holds this, and nothing else a generated statement holds does:
 * wherever it shows, a value got through.
 */
export const LITERAL_MARK = 'Zq'

/** Pieces that trip a naive scanner: quotes, backslashes, dollars, comment marks, newlines. */
const TRICKY = fc.constantFrom(
  "'",
  "''",
  '"',
  '\\',
  "\\'",
  '$',
  '$$',
  '$1',
  '$q$',
  '--',
  '/*',
  '*/',
  '\n',
  ' ',
  ';',
  'é',
  "E'",
  'U&',
  'x',
)

/** What goes between the parts of a statement: comments that hold quotes and dollars too. */
const SEPARATOR = fc.constantFrom(
  ' ',
  '\n',
  " /* it's $$ */ ",
  " -- don't $q$ 'x\n",
  " /* outer /* nested ' */ still */ ",
  '/**/',
)

/** A literal's value: tricky pieces around the mark. */
const VALUE = fc
  .tuple(fc.array(TRICKY, { maxLength: 6 }), fc.array(TRICKY, { maxLength: 6 }))
  .map(([before, after]) => `${before.join('')}${LITERAL_MARK}${after.join('')}`)

/** One literal as Postgres reads it back: the value, and how the statement writes it. */
export interface GeneratedLiteral {
  form: 'standard' | 'escape' | 'unicode' | 'dollar'
  value: string
  text: string
}

export const literal: fc.Arbitrary<GeneratedLiteral> = fc.oneof(
  VALUE.map((value) => ({
    form: 'standard' as const,
    value,
    text: `'${value.replaceAll("'", "''")}'`,
  })),
  fc.tuple(VALUE, fc.boolean(), fc.constantFrom('E', 'e')).map(([value, doubled, prefix]) => ({
    form: 'escape' as const,
    value,
    text: `${prefix}'${value.replaceAll('\\', '\\\\').replaceAll("'", doubled ? "''" : "\\'")}'`,
  })),
  VALUE.map((value) => ({
    form: 'unicode' as const,
    value,
    // In U&'…' a backslash starts a Unicode escape, so a plain one is written doubled.
    text: `U&'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`,
  })),
  fc.tuple(VALUE, fc.constantFrom('', 'q', 'body', 'x_1', 'é')).map(([value, wanted]) => {
    // The first delimiter after the opening one closes the literal: lengthen the tag until that
    // is the one that follows the value.
    let tag = wanted
    while (`${value}$${tag}$`.indexOf(`$${tag}$`) !== value.length) tag += 'z'
    return { form: 'dollar' as const, value, text: `$${tag}$${value}$${tag}$` }
  }),
)

/** A column alias and the name Postgres gives the column: plain, quoted with a quote, or with `$$`. */
function alias(i: number, form: number): { text: string; name: string } {
  if (form === 0) return { text: `c${i}`, name: `c${i}` }
  if (form === 1) return { text: `"c'${i}"`, name: `c'${i}` }
  return { text: `c$$${i}`, name: `c$$${i}` }
}

/** A select list of literals, each under its alias, with comments and line breaks between. */
export interface GeneratedColumns {
  literals: GeneratedLiteral[]
  /** Each column as `<literal><separator>as <alias>`. */
  columns: string[]
  /** The column names, in order. */
  names: string[]
}

export const columns: fc.Arbitrary<GeneratedColumns> = fc
  .array(fc.tuple(literal, SEPARATOR, fc.integer({ min: 0, max: 2 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((items) => {
    const named = items.map(([lit, separator, form], i) => ({ lit, separator, ...alias(i, form) }))
    return {
      literals: named.map((c) => c.lit),
      columns: named.map((c) => `${c.lit.text}${c.separator}as ${c.text}`),
      names: named.map((c) => c.name),
    }
  })

/** A whole statement over {@link columns}: `select` and the list, a comment or two around it. */
export const statement: fc.Arbitrary<string> = fc
  .tuple(columns, SEPARATOR, SEPARATOR)
  .map(([c, before, after]) => `${before}select ${c.columns.join(`,${after}`)}`)
