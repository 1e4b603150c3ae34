/** Driver error shapes of both backends, kept here so stores never look at driver specifics. */

/** True when `error` is a UNIQUE violation (of one of `constraints` when given: a PostgreSQL constraint name or a SQLite `table.column` list). */
export function isUniqueViolation(error: unknown, ...constraints: string[]): boolean {
  const e = error as { code?: unknown; message?: unknown; constraint?: unknown } | null
  if (!e) return false
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return constraints.length === 0 || constraints.some((c) => String(e.message).includes(c))
  }
  if (e.code === '23505') {
    return constraints.length === 0 || constraints.some((c) => e.constraint === c || String(e.message).includes(c))
  }
  return false
}

/** True when `error` is any integrity-constraint violation (unique, foreign key, check, not null). */
export function isConstraintViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return code.startsWith('SQLITE_CONSTRAINT') || /^23\d{3}$/.test(code)
}

/** SQLSTATEs after which PostgreSQL has rolled the transaction back and re-running it may succeed. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01'])

/**
 * True when `error` (or an error in its `cause` chain) is a serialization failure (40001) or a deadlock (40P01): the
 * server rolled the whole transaction back, and running it again from the start may succeed.
 */
export function isTransientTransactionError(error: unknown): boolean {
  let e: unknown = error
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && TRANSIENT_SQLSTATES.has(code)) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}
