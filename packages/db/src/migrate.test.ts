/**
 * Migrations: recorded once, never re-applied, and a database migrated by newer code is refused untouched.
 * Runs on SQLite files, and on a PostgreSQL schema of its own when `DATABASE_URL` is set.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import {
  LATEST_MIGRATION,
  type LedgerflowDb,
  MIGRATION_TABLE,
  SchemaTooNewError,
  appliedMigrations,
  migrateToLatest,
  migrations,
  openDatabase,
} from './index.js'
import { POSTGRES_SKIP_MESSAGE, POSTGRES_URL, dropSchema, randomSchemaName, tempDir } from './test-helpers/backends.js'

/** One place a database lives, that can be opened again and again. */
interface Place {
  open(options?: { migrate?: boolean }): Promise<LedgerflowDb>
  /** A fingerprint of everything stored; equal fingerprints mean nothing was touched. */
  fingerprint(db?: LedgerflowDb): Promise<string>
  cleanup(): Promise<void>
}

function sqlitePlace(): Place {
  const { dir, cleanup } = tempDir()
  const file = join(dir, 'ledgerflow.db')
  return {
    open: (options = {}) => openDatabase({ sqlite: file, ...options }),
    // Called with every connection closed: the file's bytes and the directory listing (no -wal/-shm left).
    fingerprint: async () => `${readdirSync(dir).sort().join(',')}:${readFileSync(file).toString('base64')}`,
    cleanup: async () => cleanup(),
  }
}

function postgresPlace(url: string): Place {
  const schema = randomSchemaName()
  return {
    open: (options = {}) => openDatabase({ postgres: url, schema, poolSize: 2, ...options }),
    fingerprint: async (db) => {
      const { rows } = await sql<{ t: string }>`
        select string_agg(table_name || '.' || column_name, ',' order by table_name, column_name) as t
        from information_schema.columns where table_schema = ${schema}`.execute(db!.kysely)
      const applied = await sql<{ name: string; timestamp: string }>`select * from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db!.kysely)
      return JSON.stringify([rows, applied.rows])
    },
    cleanup: () => dropSchema(url, schema),
  }
}

const variants: Array<[string, (() => Place) | undefined]> = [
  ['sqlite', sqlitePlace],
  ['postgres', POSTGRES_URL === undefined ? undefined : () => postgresPlace(POSTGRES_URL!)],
]

for (const [backend, makePlace] of variants) {
  if (!makePlace) {
    describe(`migrations [${backend}]`, () => it.skip(POSTGRES_SKIP_MESSAGE, () => {}))
    continue
  }
  describe(`migrations [${backend}]`, () => {
    let place: Place
    const open: LedgerflowDb[] = []
    const openDb = async (options?: { migrate?: boolean }) => {
      const db = await place.open(options)
      open.push(db)
      return db
    }
    afterEach(async () => {
      for (const db of open.splice(0)) await db.close()
      await place?.cleanup()
    })

    it('applies every migration in order to a fresh database and records them', async () => {
      place = makePlace()
      const db = await openDb()
      expect(db.schemaVersion).toBe(LATEST_MIGRATION)
      expect(await appliedMigrations(db.kysely)).toEqual(Object.keys(migrations).sort())
    })

    it('applies nothing when reopening an already migrated database', async () => {
      place = makePlace()
      const first = await openDb()
      const recorded = await sql`select * from ${sql.table(MIGRATION_TABLE)} order by name`.execute(first.kysely)
      const again = await migrateToLatest(first.kysely)
      expect(again).toEqual({ results: [], version: LATEST_MIGRATION })
      await first.close()
      open.splice(0)
      const second = await openDb()
      expect(second.schemaVersion).toBe(LATEST_MIGRATION)
      const after = await sql`select * from ${sql.table(MIGRATION_TABLE)} order by name`.execute(second.kysely)
      expect(after.rows).toEqual(recorded.rows)
    })

    it('refuses a database with a migration this code does not know, leaving it untouched', async () => {
      place = makePlace()
      const db = await openDb()
      await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00.000Z')`.execute(
        db.kysely,
      )
      const probe = backend === 'postgres' ? db : undefined
      if (!probe) {
        await db.close()
        open.splice(0)
      }
      const before = await place.fingerprint(probe)

      const error = await place.open().then(
        (unexpected) => {
          open.push(unexpected)
          return undefined
        },
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(SchemaTooNewError)
      expect(error).toMatchObject({ code: 'schema_too_new', unknownMigrations: ['9999-from-the-future'], knownLatest: LATEST_MIGRATION })
      expect((error as Error).message).toContain('9999-from-the-future')
      expect(await place.fingerprint(probe)).toBe(before)
    })

    it('reports a too new schema as a returned error from migrateToLatest, not a throw', async () => {
      place = makePlace()
      const db = await openDb()
      await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, timestamp) values ('9999-x', 'later')`.execute(db.kysely)
      const outcome = await migrateToLatest(db.kysely)
      expect(outcome.results).toEqual([])
      expect(outcome.error).toBeInstanceOf(SchemaTooNewError)
      expect(outcome.version).toBe('9999-x')
    })

    it('opens without migrating when asked, and migrates later on demand', async () => {
      place = makePlace()
      const db = await openDb({ migrate: false })
      expect(db.schemaVersion).toBeUndefined()
      expect(await appliedMigrations(db.kysely)).toEqual([])
      const outcome = await migrateToLatest(db.kysely)
      expect(outcome.error).toBeUndefined()
      expect(outcome.results.map((r) => [r.migrationName, r.status])).toEqual(Object.keys(migrations).map((name) => [name, 'Success']))
      expect(outcome.version).toBe(LATEST_MIGRATION)
    })
  })
}
