/**
 * Counts the statements a process sends to PostgreSQL, by kind, by wrapping `pg.Client#query`: every pool client of
 * ledgerflow (and of DBOS, which uses the same `pg` module) goes through it. One round trip per statement: pg sends
 * the next query only after the previous one completed.
 */
import pg from 'pg'

/** Statement counts by kind. */
export interface StatementCounts {
  total: number
  begin: number
  commit: number
  rollback: number
  savepoint: number
  select: number
  insert: number
  update: number
  delete: number
  other: number
}

const zero = (): StatementCounts => ({ total: 0, begin: 0, commit: 0, rollback: 0, savepoint: 0, select: 0, insert: 0, update: 0, delete: 0, other: 0 })

function kindOf(text: string): Exclude<keyof StatementCounts, 'total'> {
  const word = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? ''
  switch (word) {
    case 'begin':
    case 'start':
      return 'begin'
    case 'commit':
    case 'end':
      return 'commit'
    case 'rollback':
      return /^\s*rollback\s+to/i.test(text) ? 'savepoint' : 'rollback'
    case 'savepoint':
    case 'release':
      return 'savepoint'
    case 'select':
    case 'with':
      return /^\s*with\b/i.test(text) && /\b(insert|update|delete)\b/i.test(text) ? 'update' : 'select'
    case 'insert':
    case 'update':
    case 'delete':
      return word
    default:
      return 'other'
  }
}

let counts = zero()
let installed = false

/** Starts counting (idempotent). */
export function installStatementCounter(): void {
  if (installed) return
  installed = true
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined
    const text = typeof first === 'string' ? first : (first?.text ?? '')
    counts.total++
    counts[kindOf(text)]++
    return original.apply(this, args)
  } as typeof pg.Client.prototype.query
}

/** The counts since the last reset. */
export function statementCounts(): StatementCounts {
  return { ...counts }
}

/** Starts the counts from zero. */
export function resetStatementCounts(): void {
  counts = zero()
}

/** Counts divided by `n` (per run, per workflow), rounded to 0.01. */
export function perUnit(c: StatementCounts, n: number): Record<string, number> {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]))
}
