/**
 * Test databases of both backends, and `defineStoreSuite`, which registers one suite per backend (the kysely
 * DIALECTS loop). Excluded from the build (tsconfig.build.json excludes `src/**\/test-helpers/**`).
 *
 * - SQLite: every test gets a real file in a fresh temp directory, opened (and so migrated) by `openDatabase`
 *   with `synchronous: 'NORMAL'` (the default FULL is covered by open-database.test.ts and the concurrency test).
 * - PostgreSQL (only when `DATABASE_URL` is set): every suite gets its own schema `lf_test_<random>`, migrated by
 *   `openDatabase` and dropped afterwards; every test starts from empty tables.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest'
import { type LedgerflowDb, openDatabase } from '../index.js'

export type BackendName = 'sqlite' | 'postgres'

/** What a test of a store suite sees: a migrated, empty database of one backend. */
export interface TestEnv {
  readonly db: LedgerflowDb
  readonly backend: BackendName
}

/**
 * The PostgreSQL server of this run, or undefined when the PostgreSQL variants are skipped. Unless the URL sets its
 * own `options`, test connections run with `synchronous_commit=off`: same semantics, no fsync wait per commit.
 */
export const POSTGRES_URL: string | undefined = process.env.DATABASE_URL ? testUrl(process.env.DATABASE_URL) : undefined

function testUrl(url: string): string {
  if (!URL.canParse(url)) return url
  const parsed = new URL(url)
  if (!parsed.searchParams.has('options')) parsed.searchParams.set('options', '-c synchronous_commit=off')
  return parsed.toString()
}

export const POSTGRES_SKIP_MESSAGE = 'PostgreSQL tests skipped: DATABASE_URL is not set'

/** Every table the migrations create, children before parents (the order to empty them in). */
export const TABLES = [
  'run_logs',
  'mutations',
  'events',
  'handler_state',
  'consumer_wakeups',
  'producer_schedules',
  'handler_runs',
  'script_runs',
  'topics',
  'workflows',
  'scripts',
] as const

/** A fresh temp directory; `cleanup` removes it with everything in it. */
export function tempDir(prefix = 'ledgerflow-db-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A migrated SQLite file in its own temp directory. `dispose` closes it and removes the directory. */
export interface SqliteTestDb {
  db: LedgerflowDb
  file: string
  dir: string
  dispose(): Promise<void>
}

export async function openSqliteTestDb(): Promise<SqliteTestDb> {
  const { dir, cleanup } = tempDir()
  const file = join(dir, 'ledgerflow.db')
  try {
    // NORMAL: no fsync per commit, same semantics; durability on power loss is not what these tests check.
    const db = await openDatabase({ sqlite: file, synchronous: 'NORMAL' })
    return {
      db,
      file,
      dir,
      async dispose() {
        await db.close()
        cleanup()
      },
    }
  } catch (error) {
    cleanup()
    throw error
  }
}

/** A schema name no other run uses. */
export function randomSchemaName(): string {
  return `lf_test_${randomBytes(6).toString('hex')}`
}

/** Drops a test schema through a connection of its own (for when the database of that schema failed to open). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const db = await openDatabase({ postgres: url, schema, poolSize: 1, migrate: false })
  try {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db.kysely)
  } finally {
    await db.close()
  }
}

/** Opens a migrated PostgreSQL schema of its own; `dispose` drops the schema and closes the pool. */
export async function openPostgresTestDb(
  url: string,
  poolSize = 4,
): Promise<{ db: LedgerflowDb; schema: string; dispose(): Promise<void> }> {
  const schema = randomSchemaName()
  let db: LedgerflowDb
  try {
    db = await openDatabase({ postgres: url, schema, poolSize })
  } catch (error) {
    await dropSchema(url, schema)
    throw error
  }
  return {
    db,
    schema,
    async dispose() {
      try {
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db.kysely)
      } finally {
        await db.close()
      }
    },
  }
}

/** Empties every table. DELETE, children first, is much faster than TRUNCATE on tables this small. */
async function emptyAll(db: LedgerflowDb): Promise<void> {
  for (const table of TABLES) await sql`delete from ${sql.id(table)}`.execute(db.kysely)
}

/**
 * Registers `body` once per backend, as `<name> [sqlite]` and `<name> [postgres]`. `env()` returns the current
 * test's database. Without `DATABASE_URL`, the PostgreSQL variant is a visibly skipped test.
 *
 * ### Examples
 * ```ts
 * defineStoreSuite('workflow store: transitionStatus', (env) => {
 *   it('does nothing when the status differs', async () => {
 *     const { db } = env()
 *     ...
 *   })
 * })
 * ```
 */
export function defineStoreSuite(name: string, body: (env: () => TestEnv) => void): void {
  describe(`${name} [sqlite]`, () => {
    let current: SqliteTestDb | undefined
    beforeEach(async () => {
      current = await openSqliteTestDb()
    })
    afterEach(async () => {
      await current?.dispose()
      current = undefined
    })
    body(() => {
      if (!current) throw new Error('no test database: env() is only valid inside a test')
      return { db: current.db, backend: 'sqlite' }
    })
  })

  const url = POSTGRES_URL
  if (url === undefined) {
    describe(`${name} [postgres]`, () => {
      it.skip(POSTGRES_SKIP_MESSAGE, () => {})
    })
    return
  }
  describe(`${name} [postgres]`, () => {
    let handle: Awaited<ReturnType<typeof openPostgresTestDb>> | undefined
    beforeAll(async () => {
      handle = await openPostgresTestDb(url)
    })
    beforeEach(async () => {
      if (handle) await emptyAll(handle.db)
    })
    afterAll(async () => {
      await handle?.dispose()
      handle = undefined
    })
    body(() => {
      if (!handle) throw new Error('no test database: env() is only valid inside a test')
      return { db: handle.db, backend: 'postgres' }
    })
  })
}
