/**
 * One worker process of the scale-out bench: `createEngine` + `engine.start()` on the bench schema, with a worker id
 * of its own. Before saying `ready` it opens everything and warms up: it runs {@link WARM_UP_EVENTS} events of the
 * same workflow on a schema of its own, with the same sandbox runner, so the JIT has compiled the engine's paths and
 * the sandbox thread has taken its instance image. The bench measures workers in their steady state, as a
 * long-running worker spends its life, not the first seconds of a process. It starts working on `go`, and on `stop`
 * stops gracefully and reports its statements and CPU time (counted from `go`).
 * Usage (scale-out.ts does this): node dist/postgres/scale-worker.js '<WorkerParams json>'
 */
import { createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { createSandboxRunner } from '@ledgerflow/sandbox'
import { dropSchema } from './server.js'
import { installStatementCounter, resetStatementCounts, statementCounts } from './statement-counter.js'
import { CONSUMER_SCRIPT, type SandboxPlacement, applyTool, publishItems } from './workload.js'

/** Events a worker runs before `ready`: 120 evaluations, more than a thread creates before it takes its image. */
export const WARM_UP_EVENTS = 40

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
  /** Where the sandbox evaluates: one worker thread (the engine's default), or the calling thread with a pool. */
  runner: SandboxPlacement
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
// One runner, shared with the warm-up engine: the engine's default (one thread, a pool of 3) or the calling thread's
// pool of 3 (what `createEngine({ sandboxThreads: 0, sandboxPool: 3 })` builds).
const sandboxRunner = createSandboxRunner(params.runner === 'calling' ? { pool: { size: 3 } } : { threads: 1, pool: { size: 3 } })
await warmUp()
const engine = createEngine({
  db,
  sandboxRunner,
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
  await sandboxRunner.close()
  await db.close()
  process.send!({ type: 'report', report }, () => process.exit(0))
})
process.send!({ type: 'ready' })

/** Runs {@link WARM_UP_EVENTS} events of the bench's workflow on a schema of this worker's own, then drops it. */
async function warmUp(): Promise<void> {
  const schema = `${params.schema}_warm_${params.workerId.replace(/[^A-Za-z0-9_]/g, '_')}`
  const warmDb = await openDatabase({ postgres: params.url, schema, poolSize: 2 })
  try {
    const warm = createEngine({ db: warmDb, sandboxRunner, tools: [applyTool(0)], workerId: `${params.workerId}-warm-up` })
    const { workflowId } = await warm.deployWorkflow({ title: 'warm-up', code: CONSUMER_SCRIPT })
    await publishItems(warmDb, { workflowId, count: WARM_UP_EVENTS })
    const result = await warm.runSession(workflowId, { maxIterations: WARM_UP_EVENTS + 5 })
    if (result.status !== 'completed') throw new Error(`warm-up session ${result.status}`)
    await warm.close()
  } finally {
    await warmDb.close()
    await dropSchema(params.url, schema)
  }
}
