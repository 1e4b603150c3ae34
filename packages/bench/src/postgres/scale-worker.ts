/**
 * One worker process of the scale-out bench: `createEngine` + `engine.start()` on the bench schema, with a worker id
 * of its own. It opens everything (pool, sandbox module, JIT) before saying `ready`, starts working on `go`, and on
 * `stop` stops gracefully and reports its statements and CPU time.
 * Usage (scale-out.ts does this): node dist/postgres/scale-worker.js '<WorkerParams json>'
 */
import { createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { installStatementCounter, resetStatementCounts, statementCounts } from './statement-counter.js'
import { applyTool } from './workload.js'

/** What a worker process is told. */
export interface WorkerParams {
  url: string
  schema: string
  workerId: string
  /** Sessions the worker runs at once (each of another workflow). */
  concurrency: number
  /** How long the mutation tool waits. */
  delayMs: number
  poolSize: number
}

/** What it reports when it stops. */
export interface WorkerReport {
  workerId: string
  statements: number
  transactions: number
  cpuMs: number
  sessions: number
  runs: number
}

const params = JSON.parse(process.argv[2] ?? '{}') as WorkerParams
installStatementCounter()
const db = await openDatabase({ postgres: params.url, schema: params.schema, poolSize: params.poolSize, migrate: false })
const engine = createEngine({
  db,
  tools: [applyTool(params.delayMs)],
  workerId: params.workerId,
  worker: { concurrency: params.concurrency, idleCheckMs: 250, recoveryIntervalMs: 60_000 },
})
let sessions = 0
let runs = 0
engine.on('session:start', () => sessions++)
engine.on('run:end', () => runs++)
let cpu = process.cpuUsage()
// The bench dies with its orchestrator.
process.on('disconnect', () => process.exit(1))
process.on('message', async (message) => {
  if (message === 'go') {
    resetStatementCounts()
    cpu = process.cpuUsage()
    await engine.start()
    return
  }
  if (message !== 'stop') return
  await engine.stop()
  const used = process.cpuUsage(cpu)
  const counts = statementCounts()
  const report: WorkerReport = { workerId: params.workerId, statements: counts.total, transactions: counts.commit, cpuMs: (used.user + used.system) / 1000, sessions, runs }
  await engine.close()
  await db.close()
  process.send!({ type: 'report', report }, () => process.exit(0))
})
process.send!({ type: 'ready' })
