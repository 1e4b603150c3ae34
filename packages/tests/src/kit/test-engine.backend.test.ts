/** `createTestEngine({ backend })`: a SQLite file by default, or a PostgreSQL schema of its own, dropped on close. */
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { POSTGRES_SKIP_MESSAGE, POSTGRES_URL } from '../../suite/backends.js'
import { createTestEngine } from './index.js'

describe('createTestEngine on SQLite', () => {
  it('opens a migrated file of its own when no backend is named', async () => {
    await using env = await createTestEngine()
    expect(env).toMatchObject({ backend: 'sqlite', schema: undefined })
    expect(env.file).toMatch(/ledgerflow\.db$/)
    expect(env.db.schemaVersion).toBeDefined()
  })

  it('refuses the PostgreSQL backend without a url', async () => {
    await expect(createTestEngine({ backend: 'postgres' })).rejects.toThrow("backend 'postgres' needs a url")
  })
})

describe('createTestEngine on PostgreSQL', () => {
  const url = POSTGRES_URL
  if (url === undefined) {
    it.skip(POSTGRES_SKIP_MESSAGE, () => {})
    return
  }
  const schemaExists = async (env: Awaited<ReturnType<typeof createTestEngine>>, schema: string) => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = ${schema}`.execute(env.db.kysely)
    return rows[0]!.n === 1
  }

  it('gives every engine a migrated schema of its own and drops it on close', async () => {
    const a = await createTestEngine({ backend: 'postgres', url })
    await using b = await createTestEngine({ backend: 'postgres', url })
    expect(a).toMatchObject({ backend: 'postgres', file: undefined })
    expect(a.schema).toMatch(/^lf_test_[0-9a-f]{12}$/)
    expect(b.schema).not.toBe(a.schema)
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(a.db.kysely)
    expect(rows).toEqual([{ schema: a.schema }])
    expect(a.db.schemaVersion).toBeDefined()
    const schema = a.schema!
    await a.close()
    expect(await schemaExists(b, schema)).toBe(false)
    expect(await schemaExists(b, b.schema!)).toBe(true)
  })
})
