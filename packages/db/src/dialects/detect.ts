import { type Kysely, SqliteAdapter } from 'kysely'

/** Which backend a kysely instance talks to. */
export type DialectName = 'sqlite' | 'postgres'

/** True when `db` runs on SQLite. The only place the rest of the package asks which dialect it is on. */
export function isSqlite(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter
}

/** The dialect name of a kysely instance. */
export function dialectOf(db: Kysely<any>): DialectName {
  return isSqlite(db) ? 'sqlite' : 'postgres'
}
