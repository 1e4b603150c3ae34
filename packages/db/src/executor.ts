import type { Kysely } from 'kysely'
import { isTransientTransactionError } from './dialects/errors.js'
import { DEFAULT_TRANSACTION_RETRY, runTransaction } from './run-transaction.js'
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

/**
 * Runs `statement`, one statement that is a transaction of its own (PostgreSQL's autocommit), again after a deadlock
 * or serialization failure, as {@link inTransaction} does for a transaction. Inside a caller's transaction it runs
 * once: the caller's `transaction` re-runs the whole of it.
 */
export async function withTransientRetry<T>(exec: Executor, statement: () => Promise<T>): Promise<T> {
  if (exec.isTransaction) return statement()
  const { attempts, baseDelayMs } = DEFAULT_TRANSACTION_RETRY
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement()
    } catch (error) {
      if (attempt >= attempts || !isTransientTransactionError(error)) throw error
      await new Promise<void>((resolve) => setTimeout(resolve, baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random())))
    }
  }
}

/** The number of rows an UPDATE/DELETE changed. */
export function affected(result: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): number {
  return Number(result?.numUpdatedRows ?? result?.numDeletedRows ?? 0n)
}
