/**
 * Assertions shared by the db tests: "this write violates that kind of constraint" on both backends, and a dump of
 * every table to compare database states.
 */
import { sql } from 'kysely'
import { expect } from 'vitest'
import { type LedgerflowDb, type Stores, isConstraintViolation } from '../index.js'
import { TABLES } from './backends.js'

/** Kinds of integrity constraint, with their driver codes. */
export type ViolationKind = 'check' | 'unique' | 'foreign_key' | 'not_null'

const SQLITE_CODES: Record<ViolationKind, readonly string[]> = {
  check: ['SQLITE_CONSTRAINT_CHECK'],
  unique: ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'],
  foreign_key: ['SQLITE_CONSTRAINT_FOREIGNKEY'],
  not_null: ['SQLITE_CONSTRAINT_NOTNULL'],
}

const POSTGRES_CODES: Record<ViolationKind, string> = {
  check: '23514',
  unique: '23505',
  foreign_key: '23503',
  not_null: '23502',
}

/**
 * Which constraint must have fired: `postgres` is compared with the error's `constraint` field, `sqlite` must occur
 * in the message (SQLite names CHECK constraints by name and UNIQUE ones by `table.column` list).
 */
export interface ConstraintName {
  postgres?: string
  sqlite?: string
}

/** Asserts that `work` fails with a constraint violation of `kind` (and of the named constraint, when given). */
export async function expectViolation(
  work: Promise<unknown>,
  kind: ViolationKind,
  name: ConstraintName = {},
): Promise<void> {
  let error: unknown
  try {
    await work
  } catch (e) {
    error = e
  }
  expect(error, `expected a ${kind} constraint violation, but the write succeeded`).toBeDefined()
  expect(isConstraintViolation(error), `expected a constraint violation, got: ${String(error)}`).toBe(true)
  const e = error as { code: string; message: string; constraint?: string }
  if (e.code.startsWith('SQLITE')) {
    expect(SQLITE_CODES[kind], e.message).toContain(e.code)
    if (name.sqlite !== undefined) expect(e.message).toContain(name.sqlite)
  } else {
    expect(e.code, e.message).toBe(POSTGRES_CODES[kind])
    if (name.postgres !== undefined) expect(e.constraint).toBe(name.postgres)
  }
}

/** Every row of every table, in a stable order: compare two calls to see whether anything changed. */
export async function dumpAll(db: LedgerflowDb | Stores): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {}
  for (const table of TABLES) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db.kysely)
    out[table] = rows
      .map((row) => JSON.stringify(Object.entries(row).sort(([a], [b]) => a.localeCompare(b))))
      .sort()
      .map((text) => Object.fromEntries(JSON.parse(text) as Array<[string, unknown]>))
  }
  return out
}

/** Thrown by a transaction callback to roll it back on purpose. */
export class RollbackSignal extends Error {
  constructor() {
    super('roll back on purpose')
  }
}

/** Runs `fn` in a transaction that throws at the end, and asserts that the transaction rethrew that throw. */
export async function inRolledBackTransaction(db: LedgerflowDb, fn: (tx: Stores) => Promise<unknown>): Promise<void> {
  await expect(
    db.transaction(async (tx) => {
      await fn(tx)
      throw new RollbackSignal()
    }),
  ).rejects.toBeInstanceOf(RollbackSignal)
}
