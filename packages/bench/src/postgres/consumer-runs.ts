/**
 * ledgerflow's side of the peer comparison: consumer runs (prepare, mutate with a mutation tool that returns at once,
 * next) on PostgreSQL in one process, one at a time (one workflow's session takes its events one run after the other)
 * or 8 at a time (8 workflows' sessions side by side). Warm-up runs first; statements per run are counted with a
 * `pg` query wrapper, and CPU time of this process and of the server is recorded.
 */
import { createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { round } from '../lib/stats.js'
import { benchSchemaName, dropSchema, serverCpuMs, serverUrl } from './server.js'
import { installStatementCounter, perUnit, resetStatementCounts, statementCounts } from './statement-counter.js'
import { CONSUMER_SCRIPT, type SandboxPlacement, applyTool, consumedCount, publishItems } from './workload.js'

/** Parameters of one comparison run. */
export interface ConsumerRunParams {
  url?: string
  /** Runs at once: 1 (one at a time) or more (one workflow per lane). */
  concurrency: number
  /** Timed consumer runs in all. */
  runs: number
  /** Untimed runs first, in all. */
  warmup: number
  /** Named prepared statements (the default); false to measure without them. */
  preparedStatements?: boolean
  /**
   * Where the sandbox evaluates: `thread`, the engine's default sandbox thread (default), or `calling`, the calling
   * thread with 3 ready instances (`sandboxThreads: 0, sandboxPool: 3`, for a process with one session at a time).
   */
  runner?: SandboxPlacement
}

/** Runs the consumer runs and returns runs/s (= events/s) with statements and CPU per run. */
export async function consumerRuns(params: ConsumerRunParams): Promise<Record<string, number>> {
  const url = serverUrl(params.url)
  installStatementCounter()
  const schema = benchSchemaName()
  const lanes = params.concurrency
  const perLane = Math.ceil(params.runs / lanes)
  const warmPerLane = Math.ceil(params.warmup / lanes)
  const db = await openDatabase({ postgres: url, schema, poolSize: lanes + 2, preparedStatements: params.preparedStatements })
  const placement = params.runner === 'calling' ? { sandboxThreads: 0, sandboxPool: 3 } : {}
  const engine = createEngine({ db, tools: [applyTool(0)], workerId: 'bench-consumer-runs', ...placement })
  try {
    const ids = Array.from({ length: lanes }, (_, i) => `wf-${i}`)
    for (const id of ids) {
      await engine.deployWorkflow({ id, title: `Bench ${id}`, code: CONSUMER_SCRIPT })
      await publishItems(db, { workflowId: id, count: warmPerLane + perLane })
    }
    const session = async (id: string, runs: number) => {
      const result = await engine.runSession(id, { trigger: 'event', maxIterations: runs })
      if (result.status !== 'completed') throw new Error(`session ${result.status}: ${result.error ?? result.reason ?? ''}`)
    }
    await Promise.all(ids.map((id) => session(id, warmPerLane)))
    const before = await consumedCount(db)
    ;(globalThis as { gc?: () => void }).gc?.()
    resetStatementCounts()
    const cpu = process.cpuUsage()
    const server = serverCpuMs()
    const start = performance.now()
    await Promise.all(ids.map((id) => session(id, perLane)))
    const wallMs = performance.now() - start
    const used = process.cpuUsage(cpu)
    const serverMs = serverCpuMs() - server
    const counts = statementCounts()
    const runs = (await consumedCount(db)) - before
    if (runs !== lanes * perLane) throw new Error(`expected ${lanes * perLane} consumed events, found ${runs}`)
    const per = perUnit(counts, runs)
    return {
      concurrency: lanes,
      runs,
      wallMs: round(wallMs, 1),
      eventsPerSec: round(runs / (wallMs / 1000), 1),
      msPerRun: round(wallMs / runs),
      nodeCpuMsPerRun: round((used.user + used.system) / 1000 / runs),
      serverCpuMsPerRun: round(serverMs / runs),
      statementsPerRun: per.total!,
      transactionsPerRun: per.commit!,
      selectsPerRun: per.select!,
      writesPerRun: round(per.insert! + per.update! + per.delete!, 2),
      savepointsPerRun: per.savepoint!,
    }
  } finally {
    await engine.close()
    await db.close()
    await dropSchema(url, schema)
  }
}
