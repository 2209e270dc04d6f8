import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { scanSql } from '../../../shared/postgres/sql-scan.js'
import { isReadOnly, statementTemplate } from '../../../shared/postgres/statement.js'
import { LITERAL_MARK, statement } from '../../support/sql-literals.js'

describe('statementTemplate masks every literal form', () => {
  it.each([
    ["select 'secret' as s", "select '…' as s"],
    ["select 'it''s secret' as s", "select '…' as s"],
    // Standard-conforming: the backslash is a character, the quote after it closes the literal.
    ["select 'C:\\' as a, 'secret' as b", "select '…' as a, '…' as b"],
    ["select E'it\\'s secret' as s", "select '…' as s"],
    ["select e'a''b \\\\' as a, 'secret' as b", "select '…' as a, '…' as b"],
    ["select U&'d\\0061t\\+000061 secret' as s", "select U&'…' as s"],
    ["select B'0101', X'1F', N'secret'", "select B'…', X'…', N'…'"],
    ["select $$it's secret$$ as s", "select '…' as s"],
    ['select $fn$ a $$ b $ secret $fn$ as s', "select '…' as s"],
    ['select $é$secret$é$ as s', "select '…' as s"],
    // Parameters are not dollar quotes, and neither are names with `$` in them.
    ['select $1::text, $2 as secret$$x', 'select $1::text, $2 as secret$$x'],
    ["select $1$$secret$$ as s, 'secret'", "select $1'…' as s, '…'"],
    ['select a$$b, $$secret$$ as s', "select a$$b, '…' as s"],
    // A quote inside a quoted name or a comment opens no literal.
    [`select 1 as "it's", 'secret' as "a""b"`, `select 1 as "it's", '…' as "a""b"`],
    ["-- don't\nselect 'secret'", "select '…'"],
    ["select /* it's /* nested */ still ' */ 'secret'", "select '…'"],
    // Unterminated: the rest is the literal.
    ["select 'secret", "select '…'"],
    ['select $q$secret', "select '…'"],
  ])('%s', (text, template) => {
    expect(statementTemplate([text])).toBe(template)
  })

  it('writes $n where a tagged template has values', () => {
    expect(statementTemplate(['select ', "::text, 'secret' as s where id = ", ''])).toBe(
      "select $1::text, '…' as s where id = $2",
    )
  })

  it('leaves no generated literal value in any generated statement', () => {
    fc.assert(
      fc.property(statement, (text) => {
        expect(statementTemplate([text])).not.toContain(LITERAL_MARK)
      }),
      { numRuns: 2_000 },
    )
  })

  it('splits any text into parts that join back to it', () => {
    const sqlish = fc
      .array(fc.constantFrom("'", '"', '$', '$$', '$a$', 'E', '\\', '-', '/', '*', '\n', 'x', '1'))
      .map((pieces) => pieces.join(''))
    fc.assert(
      fc.property(fc.oneof(fc.string(), sqlish, statement), (text) => {
        expect(
          scanSql(text)
            .map((p) => p.text)
            .join(''),
        ).toBe(text)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('isReadOnly sets aside every literal form', () => {
  it.each([
    // A dollar quote holding a quote once made the rest of the text look like a literal.
    "select $$it's$$ as a, '' as b; delete from t where c = ''",
    "select E'it\\'s' as a; delete from t where c = ''",
    "select 1 as \"it's\"; delete from t where c = ''",
  ])('sees the write after the literal: %s', (text) => {
    expect(isReadOnly(text)).toBe(false)
  })

  it.each(['select $$delete from t; insert$$ as s', "select E'\\'; delete from t' as s"])(
    'sees no write inside it: %s',
    (text) => {
      expect(isReadOnly(text)).toBe(true)
    },
  )
})
