/**
 * A kysely driver for better-sqlite3 that (1) starts every transaction with `BEGIN IMMEDIATE`, retrying while
 * another process holds the write lock, so a write transaction never fails with SQLITE_BUSY; (2) caches prepared
 * statements by SQL text. kysely's own SqliteDriver begins deferred transactions, which can fail with SQLITE_BUSY
 * without waiting when they upgrade from read to write, and prepares every statement anew.
 */
import type { Database as BetterSqliteDatabase, Statement } from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  SqliteAdapter,
  type TransactionSettings,
} from 'kysely'

/** Options of {@link LedgerflowSqliteDriver}. */
export interface SqliteDriverOptions {
  /** How long `BEGIN IMMEDIATE` keeps retrying SQLITE_BUSY before giving up, in ms. Default 120000. */
  busyRetryMs?: number
  /** How many prepared statements to keep. Default 256. */
  statementCacheSize?: number
}

const BUSY_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED'])

/** True when a better-sqlite3 error says the database is locked by another connection. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && BUSY_CODES.has(code)
}

class SqliteConnection implements DatabaseConnection {
  readonly #db: BetterSqliteDatabase
  readonly #cache = new Map<string, Statement>()
  readonly #cacheSize: number

  constructor(db: BetterSqliteDatabase, cacheSize: number) {
    this.#db = db
    this.#cacheSize = cacheSize
  }

  #prepare(sqlText: string): Statement {
    let stmt = this.#cache.get(sqlText)
    if (stmt) {
      // Refresh LRU position.
      this.#cache.delete(sqlText)
      this.#cache.set(sqlText, stmt)
      return stmt
    }
    stmt = this.#db.prepare(sqlText)
    this.#cache.set(sqlText, stmt)
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    return stmt
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(compiledQuery.sql)
    const parameters = compiledQuery.parameters as unknown[]
    if (stmt.reader) {
      return Promise.resolve({ rows: stmt.all(parameters) as R[] })
    }
    const { changes } = stmt.run(parameters)
    return Promise.resolve({ numAffectedRows: BigInt(changes), rows: [] })
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the ledgerflow SQLite driver')
  }

  /** Runs a statement that is not a query (BEGIN, COMMIT, ...). */
  exec(sqlText: string): void {
    this.#db.exec(sqlText)
  }
}

/** The single-connection mutex: kysely hands the one connection to one caller at a time. */
class ConnectionMutex {
  #tail: Promise<void> = Promise.resolve()
  #release: (() => void) | undefined

  async lock(): Promise<void> {
    const previous = this.#tail
    let release!: () => void
    this.#tail = new Promise<void>((resolve) => {
      release = resolve
    })
    await previous
    this.#release = release
  }

  unlock(): void {
    const release = this.#release
    this.#release = undefined
    release?.()
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** See the module comment. */
export class LedgerflowSqliteDriver implements Driver {
  readonly #db: BetterSqliteDatabase
  readonly #options: Required<SqliteDriverOptions>
  readonly #mutex = new ConnectionMutex()
  #connection: SqliteConnection | undefined

  constructor(db: BetterSqliteDatabase, options: SqliteDriverOptions = {}) {
    this.#db = db
    this.#options = { busyRetryMs: options.busyRetryMs ?? 120_000, statementCacheSize: options.statementCacheSize ?? 256 }
  }

  async init(): Promise<void> {
    this.#connection = new SqliteConnection(this.#db, this.#options.statementCacheSize)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock()
    return this.#connection!
  }

  async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    const conn = connection as SqliteConnection
    const deadline = Date.now() + this.#options.busyRetryMs
    // busy_timeout already waits inside SQLite; this loop only covers the case where that wait ran out while
    // another process kept the lock (SQLite's busy handler is not fair under saturation).
    for (let attempt = 0; ; attempt++) {
      try {
        conn.exec('BEGIN IMMEDIATE')
        return
      } catch (error) {
        if (!isBusyError(error) || Date.now() >= deadline) throw error
        await sleep(Math.min(50, 2 ** attempt) + Math.random() * 10)
      }
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    ;(connection as SqliteConnection).exec('COMMIT')
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // A failed COMMIT or a constraint error may already have ended the transaction.
    if (this.#db.inTransaction) (connection as SqliteConnection).exec('ROLLBACK')
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock()
  }

  async destroy(): Promise<void> {
    if (this.#db.open) this.#db.close()
  }
}

/** kysely's SQLite adapter, but with transactional DDL so migrations run inside one `BEGIN IMMEDIATE`. */
export class LedgerflowSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}
