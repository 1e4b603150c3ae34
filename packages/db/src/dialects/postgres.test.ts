/**
 * The PostgreSQL dialect: each database lives in its own schema (every pooled connection uses it, the first one
 * too, set at connect time), parameterised statements are prepared once per connection, and introspection (which every migration run does) only looks at that schema, so other sessions creating and
 * dropping schemas meanwhile cannot break it.
 */
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { type LedgerflowDb, openDatabase } from '../index.js'
import { POSTGRES_SKIP_MESSAGE, POSTGRES_URL, openPostgresTestDb } from '../test-helpers/backends.js'
import { statementName } from './postgres.js'

const url = POSTGRES_URL

if (url === undefined) {
  describe('postgres dialect', () => it.skip(POSTGRES_SKIP_MESSAGE, () => {}))
} else {
  describe('postgres dialect', () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    async function open(poolSize: number): Promise<{ db: LedgerflowDb; schema: string }> {
      const handle = await openPostgresTestDb(url!, poolSize)
      cleanups.push(handle.dispose)
      return handle
    }

    it('creates every table in its own schema, through the first pooled connection too', async () => {
      const { db, schema } = await open(1)
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)
      expect(rows).toEqual([{ schema }])
      const tables = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.tables where table_schema = ${schema}`.execute(db.kysely)
      expect(tables.rows[0]?.n).toBe(13)
    })

    it('uses its schema on every connection of the pool', async () => {
      const { db, schema } = await open(4)
      // Four transactions at once hold four distinct connections.
      const seen = await Promise.all(
        [0, 1, 2, 3].map(() =>
          db.kysely.transaction().execute(async (trx) => {
            const { rows } = await sql<{ s: string; pid: number }>`select current_schema() as s, pg_backend_pid() as pid, pg_sleep(0.05)`.execute(trx)
            return rows[0]!
          }),
        ),
      )
      expect(new Set(seen.map((r) => r.pid)).size).toBe(4)
      expect(seen.every((r) => r.s === schema)).toBe(true)
    })

    it('puts the schema on the search path at connect time and keeps the server options the URL sets', async () => {
      const { db, schema } = await open(1)
      const { rows } = await sql<{ s: string; sc: string }>`select current_schema() as s, current_setting('synchronous_commit') as sc`.execute(db.kysely)
      // The test URL asks for synchronous_commit=off (test-helpers/backends.ts); the schema came on top of it.
      expect(rows).toEqual([{ s: schema, sc: 'off' }])
    })

    it('prepares each parameterised statement once per connection, unless told not to', async () => {
      const { db, schema } = await open(1)
      // Statements prepared on one connection while one new statement runs three times.
      const prepared = (on: LedgerflowDb) =>
        on.kysely.transaction().execute(async (trx) => {
          const count = async () => (await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(trx)).rows[0]!.n
          const before = await count()
          for (let i = 0; i < 3; i++) await trx.selectFrom('workflows').select('id').where('id', '=', `wf-${i}`).execute()
          return (await count()) - before
        })
      expect(await prepared(db)).toBe(1)
      const plain = await openDatabase({ postgres: url!, schema, poolSize: 1, migrate: false, preparedStatements: false })
      cleanups.push(() => plain.close())
      expect(await prepared(plain)).toBe(0)
    })

    it('names statements by their text, the same way every time', () => {
      expect(statementName('select 1 where x = $1')).toBe(statementName('select 1 where x = $1'))
      expect(statementName('select 1 where x = $1')).not.toBe(statementName('select 2 where x = $1'))
      expect(statementName('select 1')).toMatch(/^lf_[0-9a-z]+$/)
    })

    it('keeps two databases of one server apart', async () => {
      const a = await open(2)
      const b = await open(2)
      await a.db.workflows.insert({
        id: 'only-in-a', title: 'A', status: 'draft', active_script_id: null, handler_config: null, error: null,
        error_type: null, consumer_sleep_until: null, created_at: 1, updated_at: 1,
      })
      expect(await a.db.workflows.get('only-in-a')).toBeDefined()
      expect(await b.db.workflows.get('only-in-a')).toBeUndefined()
    })

    it('introspects only the tables of its own schema', async () => {
      const { db, schema } = await open(2)
      const other = await open(2)
      await sql`create table ${sql.id(other.schema, 'stranger')} (x int)`.execute(other.db.kysely)
      const tables = await db.kysely.introspection.getTables({ withInternalKyselyTables: true })
      expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([schema]))
      expect(tables.map((t) => t.name)).not.toContain('stranger')
      expect(tables.find((t) => t.name === 'events')?.columns.find((c) => c.name === 'sequence')).toMatchObject({
        dataType: 'int8',
        isNullable: false,
        hasDefaultValue: false,
      })
    })

    it('opens and migrates while other sessions create and drop schemas', async () => {
      const churn = await open(2)
      let stop = false
      const churning = (async () => {
        for (let i = 0; !stop; i++) {
          const name = `${churn.schema}_churn_${i}`
          await sql`create schema ${sql.id(name)}`.execute(churn.db.kysely)
          await sql`create table ${sql.id(name, 't')} (id serial primary key, x text default 'x')`.execute(churn.db.kysely)
          await sql`drop schema ${sql.id(name)} cascade`.execute(churn.db.kysely)
        }
      })()
      try {
        for (let i = 0; i < 8; i++) {
          const { db } = await open(1)
          expect(db.schemaVersion).toBeDefined()
        }
      } finally {
        stop = true
        await churning
      }
    })
  })
}
