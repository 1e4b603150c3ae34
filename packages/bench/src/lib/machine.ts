/** A description of the machine and runtime, recorded with every result (fsync cost dominates SQLite figures). */
import { availableParallelism, cpus, freemem, loadavg, release, totalmem, type } from 'node:os'
import Database from 'better-sqlite3'

/** What the results were measured on. */
export interface MachineInfo {
  node: string
  os: string
  cpus: number
  cpuModel: string
  memoryGiB: number
  freeMemoryGiB: number
  /** 1, 5 and 15 minute load averages when the run started (the VM is shared). */
  loadAverage: number[]
  sqlite: string
  betterSqlite3: string
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  const db = new Database(':memory:')
  const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v
  db.close()
  return {
    node: process.version,
    os: `${type()} ${release()}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGiB: Math.round(freemem() / 2 ** 30),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    sqlite,
    betterSqlite3: '12',
  }
}
