/** One row of a table, with an optional line shown under it (e.g. the fix for a failure). */
export interface TableRow {
  cells: readonly string[]
  note?: string
}

/** Between columns. */
const GAP = '  '

/**
 * A plain-text table: a header, a rule, the rows; each note goes on its own line under its row,
 * starting at the last column. Plain characters only, so it reads the same in a log file.
 */
export function renderTable(headers: readonly string[], rows: readonly TableRow[]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row.cells[i] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join(GAP)
      .trimEnd()
  const indent = widths.slice(0, -1).reduce((sum, w) => sum + w + GAP.length, 0)
  const out = [line(headers), line(widths.map((w) => '-'.repeat(w)))]
  for (const row of rows) {
    out.push(line(row.cells))
    if (row.note !== undefined) out.push(`${' '.repeat(indent)}${row.note}`)
  }
  return out.join('\n')
}
