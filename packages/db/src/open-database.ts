import type { Kysely } from 'kysely'
import type BetterSqlite3 from 'better-sqlite3'
import type { DialectName } from './dialects/detect.js'
import { openSqliteKysely } from './dialects/sqlite.js'
import { migrateToLatest } from './migrate.js'
import { DEFAULT_TRANSACTION_RETRY, type TransactionRetry, runTransaction } from './run-transaction.js'
import type { Database } from './schema.js'
import { type Stores, createStores } from './stores/index.js'

/** Options of both backends. */
export interface CommonDatabaseOptions {
  /** Migrate to the latest schema on open. Default true. */
  migrate?: boolean
  /**
   * Re-runs of `transaction` callbacks after a serialization failure or a deadlock (PostgreSQL). Default: 5 attempts
   * in all, 5 ms base pause.
   */
  transactionRetry?: Partial<TransactionRetry>
  /** Called with each error that made a transaction run again (for metrics and logs). */
  onTransactionRetry?: (error: unknown, attempt: number) => void
}

/** A SQLite database. */
export interface SqliteDatabaseOptions extends CommonDatabaseOptions {
  /** Path of the SQLite file (created if missing), or `:memory:`. */
  sqlite: string
  /** `FULL` (default) survives power loss at every commit; `NORMAL` may lose the last commits. */
  synchronous?: 'FULL' | 'NORMAL'
  /** Start from a serialized image instead of the file (see `LedgerflowDb.serialize`). */
  image?: Buffer
}

/** A PostgreSQL database (one schema of it). */
export interface PostgresDatabaseOptions extends CommonDatabaseOptions {
  /** PostgreSQL connection string. */
  postgres: string
  /** Schema to use; created if missing. Default `public`. */
  schema?: string
  /**
   * Connections of this process's pool. Default 10: a worker runs 4 sessions at once by default; each holds at most
   * one connection at a time, plus short ones for lease renewals, the scheduler and recovery.
   */
  poolSize?: number
  /**
   * Send parameterised statements as named prepared statements (parsed and planned once per connection). Default
   * true; turn off behind a pooler that cannot keep them (pgbouncer before 1.21 in transaction mode).
   */
  preparedStatements?: boolean
}

/** Where the database lives. */
export type OpenDatabaseOptions = SqliteDatabaseOptions | PostgresDatabaseOptions

/** The stores bound to one transaction. */
export type LedgerflowTx = Stores

/** An open ledgerflow database: the kysely instance, every store, transactions and close. */
export interface LedgerflowDb extends Stores {
  readonly kysely: Kysely<Database>
  readonly dialect: DialectName
  /** The newest migration applied. */
  readonly schemaVersion: string | undefined
  /**
   * Runs `fn` in one transaction (`BEGIN IMMEDIATE` on SQLite) with every store bound to it. Commits when `fn`
   * resolves, rolls back when it throws. Never await outside I/O inside: the transaction holds the write lock.
   * On PostgreSQL a serialization failure or deadlock rolls the attempt back and runs `fn` AGAIN on a fresh
   * transaction (bounded; see `transactionRetry`), so `fn` must be pure database work: no external calls, no
   * events, nothing whose effect outside the database depends on how often it ran.
   */
  transaction<T>(fn: (tx: LedgerflowTx) => Promise<T>): Promise<T>
  /** SQLite only: the database as one buffer (a template for fast test databases). */
  serialize(): Buffer
  /** SQLite only: the native better-sqlite3 handle (benchmarks and tests). */
  readonly native: BetterSqlite3.Database | undefined
  close(): Promise<void>
}

interface WrapOptions {
  dialect: DialectName
  schemaVersion: string | undefined
  native: BetterSqlite3.Database | undefined
  retry: TransactionRetry
  onRetry: ((error: unknown, attempt: number) => void) | undefined
}

function wrap(kysely: Kysely<Database>, { dialect, schemaVersion, native, retry, onRetry }: WrapOptions): LedgerflowDb {
  const stores = createStores(kysely)
  const db: LedgerflowDb = Object.create(stores, {
    dialect: { value: dialect, enumerable: true },
    schemaVersion: { value: schemaVersion, enumerable: true },
    native: { value: native },
  })
  return Object.assign(db, {
    kysely,
    transaction<T>(fn: (tx: LedgerflowTx) => Promise<T>) {
      return runTransaction(kysely, (trx) => fn(createStores(trx)), { retry, onRetry })
    },
    serialize() {
      if (!native) throw new Error('serialize() is only available on SQLite')
      return native.serialize()
    },
    async close() {
      await kysely.destroy()
    },
  })
}

/**
 * Opens a ledgerflow database and migrates it to the latest schema (refusing one that is newer than this code).
 *
 * ### Examples
 * ```ts
 * const db = await openDatabase({ sqlite: './.ledgerflow/ledgerflow.db' })
 * const workflow = await db.workflows.get('inbox')
 * await db.transaction(async (tx) => {
 *   await tx.events.consume(runId, Date.now())
 * })
 * await db.close()
 * ```
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<LedgerflowDb> {
  let kysely: Kysely<Database>
  let native: BetterSqlite3.Database | undefined
  let dialect: DialectName
  if ('sqlite' in options) {
    const handle = openSqliteKysely({ file: options.sqlite, synchronous: options.synchronous, image: options.image })
    kysely = handle.kysely
    native = handle.native
    dialect = 'sqlite'
  } else {
    // Loaded on demand: `pg` costs ~0.1-0.2 s of start-up that a SQLite process (the CLI, a worker) never needs.
    const { openPostgresKysely } = await import('./dialects/postgres.js')
    const handle = await openPostgresKysely({
      url: options.postgres,
      schema: options.schema,
      poolSize: options.poolSize,
      preparedStatements: options.preparedStatements,
    })
    kysely = handle.kysely
    dialect = 'postgres'
  }
  let version: string | undefined
  if (options.migrate !== false) {
    try {
      const outcome = await migrateToLatest(kysely)
      if (outcome.error) throw outcome.error
      version = outcome.version
    } catch (error) {
      await kysely.destroy()
      throw error
    }
  }
  return wrap(kysely, {
    dialect,
    schemaVersion: version,
    native,
    retry: { ...DEFAULT_TRANSACTION_RETRY, ...options.transactionRetry },
    onRetry: options.onTransactionRetry,
  })
}
