import type { Kysely } from 'kysely'
import { runTransaction } from './run-transaction.js'
import type { Database } from './schema.js'

/** Anything queries can run on: the database or a transaction of it. */
export type Executor = Kysely<Database>

/**
 * Runs `fn` inside a transaction: the caller's one when `exec` already is a transaction, else a new one.
 * Store functions that write more than one statement use it, so each is atomic on its own and composes into a
 * caller's transaction. A transaction of its own is re-run after a deadlock or serialization failure (PostgreSQL);
 * inside a caller's transaction, the caller's `transaction` re-runs the whole of it.
 */
export async function inTransaction<T>(exec: Executor, fn: (trx: Executor) => Promise<T>): Promise<T> {
  if (exec.isTransaction) return fn(exec)
  return runTransaction(exec, (trx) => fn(trx))
}

/** The number of rows an UPDATE/DELETE changed. */
export function affected(result: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): number {
  return Number(result?.numUpdatedRows ?? result?.numDeletedRows ?? 0n)
}
