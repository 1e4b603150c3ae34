/**
 * The scale-out backend: PostgreSQL through a `pg` pool. 64-bit integers and numerics are parsed as JS numbers
 * (timestamps in ms and microdollar sums fit), per pool, without touching pg's global parsers.
 */
import { type DatabaseIntrospector, Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from '../schema.js'
import { CurrentSchemaIntrospector } from './postgres-introspector.js'

/** Options of {@link openPostgresKysely}. */
export interface PostgresOptions {
  /** Connection string, e.g. `postgres://user@127.0.0.1:5432/db`. */
  url: string
  /** Schema to use (created if missing); every connection gets it as its `search_path`. Default `public`. */
  schema?: string
  /** Pool size. Default 10. */
  poolSize?: number
}

const INT8_OID = 20
const NUMERIC_OID = 1700

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

/** kysely's PostgreSQL dialect with an introspector that a concurrent DROP SCHEMA elsewhere cannot break. */
class LedgerflowPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db)
  }
}

/** The pool and its kysely instance. */
export interface PostgresHandle {
  kysely: Kysely<Database>
  pool: pg.Pool
}

/** Opens a pool (creating the schema if needed) and a kysely instance over it. */
export async function openPostgresKysely(options: PostgresOptions): Promise<PostgresHandle> {
  const schema = options.schema ?? 'public'
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10, types })
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it. Queries in flight get their own error.
  })
  if (schema !== 'public') {
    // Registered before the first connection so that every client, the first one included, sets its search_path
    // before any query of its user runs (a client runs its queries in order).
    pool.on('connect', (client) => {
      client.query(`set search_path to ${pg.escapeIdentifier(schema)}`).catch(() => {})
    })
    const client = await pool.connect()
    try {
      await client.query(`create schema if not exists ${pg.escapeIdentifier(schema)}`)
    } finally {
      client.release()
    }
  }
  const kysely = new Kysely<Database>({ dialect: new LedgerflowPostgresDialect({ pool }) })
  return { kysely, pool }
}
