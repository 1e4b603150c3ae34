/**
 * One transaction with a bounded re-run on PostgreSQL's transient conflicts. A serialization failure (SQLSTATE
 * 40001) or a deadlock (40P01) means the server rolled the whole transaction back and another attempt may succeed;
 * the callback runs again from the start on a fresh transaction. Callbacks must therefore be pure database work:
 * nothing they do outside the transaction may depend on how many times they ran.
 */
import type { Kysely, Transaction } from 'kysely'
import { isTransientTransactionError } from './dialects/errors.js'

/** How often a transaction is attempted at most, and the base of the pause between attempts. */
export interface TransactionRetry {
  /** Attempts in all (1 = no re-run). Default 5. */
  attempts: number
  /** Pause before the second attempt, in ms; doubles each time, with jitter. Default 5. */
  baseDelayMs: number
}

/** The defaults of {@link TransactionRetry}. */
export const DEFAULT_TRANSACTION_RETRY: TransactionRetry = Object.freeze({ attempts: 5, baseDelayMs: 5 })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** How {@link runTransaction} re-runs a transaction. */
export interface RunTransactionOptions {
  /** Default {@link DEFAULT_TRANSACTION_RETRY}. */
  retry?: TransactionRetry
  /** Sees each error that caused a re-run. */
  onRetry?: ((error: unknown, attempt: number) => void) | undefined
}

/**
 * Runs `fn` in a transaction of `db`, re-running it on a fresh transaction after a serialization failure or a
 * deadlock, at most `retry.attempts` times in all; the last error is thrown when every attempt failed. `onRetry`
 * sees each error that caused a re-run.
 */
export async function runTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<DB>, attempt: number) => Promise<T>,
  { retry = DEFAULT_TRANSACTION_RETRY, onRetry }: RunTransactionOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute((trx) => fn(trx, attempt))
    } catch (error) {
      if (attempt >= retry.attempts || !isTransientTransactionError(error)) throw error
      onRetry?.(error, attempt)
      // The winner of the conflict usually commits within a few ms; jitter keeps two losers from meeting again.
      await sleep(retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()))
    }
  }
}
