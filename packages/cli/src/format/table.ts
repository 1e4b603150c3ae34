/** Aligned text tables for human output. Pure. */

/** One column: header, how to read the cell, and the widest it may get (longer cells end with `…`). */
export interface Column<T> {
  header: string
  value: (row: T) => string
  max?: number
  align?: 'left' | 'right'
}

/** Cuts `text` to `max` characters, ending with `…` when cut. Pure. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(1, max - 1))}…`
}

/** Renders rows as an aligned table with a header line; an empty list renders `empty` instead. Pure. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return `${empty}\n`
  const cells = rows.map((row) => columns.map((c) => truncate(c.value(row), c.max ?? 60)))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')}\n`
}

/** Renders `label: value` pairs with aligned values. Pure. */
export function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n')}\n`
}
