/**
 * Runs the migrations under a lock (a `BEGIN IMMEDIATE` transaction on SQLite, an advisory lock on PostgreSQL)
 * and refuses a database migrated by newer code.
 */
import { type Kysely, type MigrationResult, Migrator, sql } from 'kysely'
import { isSqlite } from './dialects/detect.js'
import { MigrationFailedError, SchemaTooNewError } from './errors.js'
import { LATEST_MIGRATION, migrations } from './migrations/index.js'

/** Table names of the migration bookkeeping. */
export const MIGRATION_TABLE = 'ledgerflow_migration'
export const MIGRATION_LOCK_TABLE = 'ledgerflow_migration_lock'

/** What {@link migrateToLatest} did. Expected outcomes are returned, not thrown. */
export interface MigrateOutcome {
  /** One entry per migration that was attempted, in order. */
  results: MigrationResult[]
  /** Set when a migration failed or the schema is newer than the code; the database is unchanged by the failure. */
  error?: SchemaTooNewError | MigrationFailedError
  /** The newest migration applied after this call. */
  version: string | undefined
}

/** Names of the migrations recorded in the database, oldest first (empty for a fresh database). */
export async function appliedMigrations(db: Kysely<any>): Promise<string[]> {
  const schema = await currentSchema(db)
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true })
  // PostgreSQL introspection lists every schema of the database; only the one we run in counts.
  if (!tables.some((t) => t.name === MIGRATION_TABLE && (schema === undefined || t.schema === schema))) return []
  const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db)
  return rows.rows.map((r) => r.name)
}

/** PostgreSQL: the schema unqualified names resolve to (the first of the search_path). SQLite: undefined. */
async function currentSchema(db: Kysely<any>): Promise<string | undefined> {
  if (isSqlite(db)) return undefined
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)
  return rows[0]?.schema ?? undefined
}

/**
 * Migrates `db` to the newest schema this code knows.
 *
 * ### Examples
 * ```ts
 * const { error, version } = await migrateToLatest(kysely)
 * if (error) throw error
 * console.log('schema at', version)
 * ```
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrateOutcome> {
  const before = await appliedMigrations(db)
  const unknown = before.filter((name) => !(name in migrations))
  if (unknown.length > 0) {
    return { results: [], error: new SchemaTooNewError(unknown, LATEST_MIGRATION), version: before.at(-1) }
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    // Without it kysely finds the bookkeeping tables of any other schema of the database and skips creating ours.
    migrationTableSchema: await currentSchema(db),
  })
  const { error, results = [] } = await migrator.migrateToLatest()
  const after = await appliedMigrations(db)
  if (error) {
    // A newer process may have migrated the file between our check and the lock.
    const unknownAfter = after.filter((name) => !(name in migrations))
    if (unknownAfter.length > 0) {
      return { results, error: new SchemaTooNewError(unknownAfter, LATEST_MIGRATION), version: after.at(-1) }
    }
    const failed = results.find((r) => r.status === 'Error')?.migrationName
    return { results, error: new MigrationFailedError(failed, error), version: after.at(-1) }
  }
  return { results, version: after.at(-1) }
}
