import type { Kysely } from 'kysely'
import type BetterSqlite3 from 'better-sqlite3'
import type { DialectName } from './dialects/detect.js'
import { openPostgresKysely } from './dialects/postgres.js'
import { openSqliteKysely } from './dialects/sqlite.js'
import { migrateToLatest } from './migrate.js'
import type { Database } from './schema.js'
import { type Stores, createStores } from './stores/index.js'

/** Where the database lives. */
export type OpenDatabaseOptions =
  | {
      /** Path of the SQLite file (created if missing), or `:memory:`. */
      sqlite: string
      /** `FULL` (default) survives power loss at every commit; `NORMAL` may lose the last commits. */
      synchronous?: 'FULL' | 'NORMAL'
      /** Start from a serialized image instead of the file (see `LedgerflowDb.serialize`). */
      image?: Buffer
      /** Migrate to the latest schema on open. Default true. */
      migrate?: boolean
    }
  | {
      /** PostgreSQL connection string. */
      postgres: string
      /** Schema to use; created if missing. Default `public`. */
      schema?: string
      /** Pool size. Default 10. */
      poolSize?: number
      migrate?: boolean
    }

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
   */
  transaction<T>(fn: (tx: LedgerflowTx) => Promise<T>): Promise<T>
  /** SQLite only: the database as one buffer (a template for fast test databases). */
  serialize(): Buffer
  /** SQLite only: the native better-sqlite3 handle (benchmarks and tests). */
  readonly native: BetterSqlite3.Database | undefined
  close(): Promise<void>
}

function wrap(
  kysely: Kysely<Database>,
  dialect: DialectName,
  schemaVersion: string | undefined,
  native: BetterSqlite3.Database | undefined,
): LedgerflowDb {
  const stores = createStores(kysely)
  const db: LedgerflowDb = Object.create(stores, {
    dialect: { value: dialect, enumerable: true },
    schemaVersion: { value: schemaVersion, enumerable: true },
    native: { value: native },
  })
  return Object.assign(db, {
    kysely,
    transaction<T>(fn: (tx: LedgerflowTx) => Promise<T>) {
      return kysely.transaction().execute((trx) => fn(createStores(trx)))
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
    const handle = await openPostgresKysely({ url: options.postgres, schema: options.schema, poolSize: options.poolSize })
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
  return wrap(kysely, dialect, version, native)
}
