import { CorruptColumnError } from './errors.js'

/** Where a JSON value was read from, for the error message. */
export interface ColumnRef {
  table: string
  column: string
  rowId: string
}

/**
 * Parses JSON text read back from the database; `null` stays `null`. Throws {@link CorruptColumnError} naming the
 * table, column and row when the text is not JSON. Validate the shape with zod afterwards.
 */
export function readJsonColumn(text: string | null, where: ColumnRef): unknown {
  if (text === null) return null
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CorruptColumnError(where.table, where.column, where.rowId, (error as Error).message)
  }
}

/** Serializes a value for a JSON column; `undefined` becomes SQL NULL. */
export function writeJsonColumn(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value)
}
