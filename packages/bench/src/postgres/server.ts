/**
 * The PostgreSQL server a bench run uses: a schema (ledgerflow) or a database (DBOS's system database) of its own
 * per job, created here and dropped afterwards, and CPU time of the server's processes from /proc.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import pg from 'pg'

/** The server URL of the PostgreSQL bench (`DATABASE_URL`). */
export function serverUrl(url: string | undefined): string {
  if (!url) throw new Error('the PostgreSQL bench needs a server: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)')
  return url
}

/** A schema name no other run uses. */
export function benchSchemaName(): string {
  return `lf_bench_${process.pid}_${randomBytes(3).toString('hex')}`
}

/** The same server URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Runs one statement on a connection of its own. */
export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

/** Drops a schema with everything in it. */
export function dropSchema(url: string, schema: string): Promise<void> {
  return adminQuery(url, `drop schema if exists ${pg.escapeIdentifier(schema)} cascade`)
}

/** Creates a database of its own on the server (for DBOS); `drop` removes it, closing its connections. */
export async function createScratchDatabase(url: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}`
  await adminQuery(url, `drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
  await adminQuery(url, `create database ${pg.escapeIdentifier(name)}`)
  return { url: withDatabase(url, name), drop: () => adminQuery(url, `drop database if exists ${pg.escapeIdentifier(name)} with (force)`) }
}

const TICK_MS = 10

/** CPU ms of every `postgres` process of this machine (utime + stime), or NaN where /proc is missing. */
export function serverCpuMs(): number {
  try {
    let total = 0
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        total += (Number(fields[11]) + Number(fields[12])) * TICK_MS
      } catch {
        // The process ended meanwhile.
      }
    }
    return total
  } catch {
    return Number.NaN
  }
}

/** Busy share of the whole machine between two /proc/stat samples (other tenants included). */
export function machineBusy(): () => number {
  const sample = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
      const idle = f[3]! + f[4]!
      return { idle, total: f.slice(0, 8).reduce((a, b) => a + b, 0) }
    } catch {
      return { idle: Number.NaN, total: Number.NaN }
    }
  }
  const start = sample()
  return () => {
    const end = sample()
    return 1 - (end.idle - start.idle) / (end.total - start.total)
  }
}
