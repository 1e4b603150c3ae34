/**
 * The embedded default backend: one SQLite file through better-sqlite3, WAL, `busy_timeout`,
 * `synchronous=FULL` unless asked otherwise, foreign keys on.
 */
import BetterSqlite3 from 'better-sqlite3'
import {
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  Kysely,
  type QueryCompiler,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely'
import { NotADatabaseError } from '../errors.js'
import type { Database } from '../schema.js'
import { LedgerflowSqliteAdapter, LedgerflowSqliteDriver, type SqliteDriverOptions, isBusyError } from './sqlite-driver.js'

/** Options of {@link openSqliteKysely}. */
export interface SqliteOptions extends SqliteDriverOptions {
  /** Path of the database file (`:memory:` for a private in-memory database). */
  file: string
  /** `FULL` (default): every commit survives power loss. `NORMAL`: faster; the last commits may be lost. */
  synchronous?: 'FULL' | 'NORMAL'
  /** How long SQLite itself waits for the write lock before reporting SQLITE_BUSY, in ms. Default 5000. */
  busyTimeoutMs?: number
  /** Open an existing database from a serialized image (`db.serialize()`), e.g. a migrated template. */
  image?: Buffer
}

class LedgerflowSqliteDialect implements Dialect {
  readonly #db: BetterSqlite3.Database
  readonly #options: SqliteDriverOptions

  constructor(db: BetterSqlite3.Database, options: SqliteDriverOptions) {
    this.#db = db
    this.#options = options
  }

  createAdapter(): DialectAdapter {
    return new LedgerflowSqliteAdapter()
  }

  createDriver(): Driver {
    return new LedgerflowSqliteDriver(this.#db, this.#options)
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler()
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db)
  }
}

/** The raw better-sqlite3 handle together with its kysely instance. */
export interface SqliteHandle {
  kysely: Kysely<Database>
  native: BetterSqlite3.Database
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4))

/**
 * Runs `fn`, retrying for up to `timeoutMs` while another connection holds a lock. Switching a fresh file to WAL
 * needs an exclusive lock, and when two processes open the same fresh file SQLite answers SQLITE_BUSY at once
 * instead of calling the busy handler (waiting could deadlock). Opening is synchronous, so this waits synchronously.
 */
function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    try {
      return fn()
    } catch (error) {
      if (!isBusyError(error) || Date.now() >= deadline) throw error
      Atomics.wait(sleepCell, 0, 0, Math.min(50, 2 ** attempt) + Math.random() * 5)
    }
  }
}

/**
 * The image of a WAL-mode file says "WAL" in its header (bytes 18 and 19 are 2), and SQLite cannot open such an
 * image in memory ("unable to open database file"). Returns a copy marked as a rollback-journal database.
 */
function withoutWalHeader(image: Buffer): Buffer {
  if (image.length < 20 || (image[18] !== 2 && image[19] !== 2)) return image
  const copy = Buffer.from(image)
  copy[18] = 1
  copy[19] = 1
  return copy
}

/**
 * Opens (creating if needed) a SQLite database with ledgerflow's pragmas. Throws {@link NotADatabaseError} when the
 * file exists but is not a SQLite database.
 */
export function openSqliteKysely(options: SqliteOptions): SqliteHandle {
  let native: BetterSqlite3.Database | undefined
  try {
    native = options.image ? new BetterSqlite3(withoutWalHeader(options.image)) : new BetterSqlite3(options.file)
    native.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`)
    if (options.file !== ':memory:' && !options.image) {
      const file = native
      retryWhileBusy(() => file.pragma('journal_mode = WAL'), options.busyTimeoutMs ?? 5000)
    }
    native.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`)
    native.pragma('foreign_keys = ON')
    // Reading the schema makes SQLite look at the file header: a file that is not a database fails here.
    native.prepare('select count(*) from sqlite_master').get()
  } catch (error) {
    native?.close()
    const code = (error as { code?: unknown }).code
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new NotADatabaseError(options.file, { cause: error })
    }
    throw error
  }
  const kysely = new Kysely<Database>({ dialect: new LedgerflowSqliteDialect(native, options) })
  return { kysely, native }
}
