/**
 * The peer: DBOS Transact (`@dbos-inc/dbos-sdk`, a devDependency of this package only) running a durable workflow of
 * three checkpointed steps (prepare, mutate, next; each returns at once) on the same PostgreSQL server, one at a time
 * or 8 at a time (a pool of direct calls). DBOS gets a system database of its own, created for the run and dropped
 * afterwards. Statements per workflow are counted with the same `pg` wrapper (DBOS uses the same `pg` module).
 */
import { round } from '../lib/stats.js'
import { createScratchDatabase, serverCpuMs, serverUrl } from './server.js'
import { installStatementCounter, perUnit, resetStatementCounts, statementCounts } from './statement-counter.js'

/** Parameters of one DBOS run. */
export interface DbosParams {
  url?: string
  /** Workflows in flight at once. */
  concurrency: number
  /** Timed workflows. */
  workflows: number
  /** Untimed workflows first. */
  warmup: number
}

/** Runs `count` calls of `fn` with at most `width` in flight. */
async function pool(count: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < count) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane))
}

/** Launches DBOS on a scratch system database, runs the workflows and returns workflows/s with their cost. */
export async function dbosWorkflows(params: DbosParams): Promise<Record<string, number>> {
  const url = serverUrl(params.url)
  installStatementCounter()
  const system = await createScratchDatabase(url, 'lf_bench_dbos')
  // Loaded here so that no other bench job pays for (or depends on) DBOS.
  const { DBOS } = await import('@dbos-inc/dbos-sdk')
  let launched = false
  try {
    DBOS.setConfig({ name: 'ledgerflow-bench', systemDatabaseUrl: system.url, logLevel: 'error' })
    const prepare = DBOS.registerStep(async (i: number) => ({ i }), { name: 'prepare' })
    const mutate = DBOS.registerStep(async (p: { i: number }) => ({ ok: p.i }), { name: 'mutate' })
    const next = DBOS.registerStep(async (p: { i: number }, m: { ok: number }) => ({ last: p.i, mutation: m.ok }), { name: 'next' })
    const consumerRun = DBOS.registerWorkflow(
      async (i: number) => {
        const prepared = await prepare(i)
        return next(prepared, await mutate(prepared))
      },
      { name: 'consumerRun' },
    )
    await DBOS.launch()
    launched = true
    await pool(params.warmup, params.concurrency, (i) => consumerRun(-1 - i))
    ;(globalThis as { gc?: () => void }).gc?.()
    resetStatementCounts()
    const cpu = process.cpuUsage()
    const server = serverCpuMs()
    const start = performance.now()
    await pool(params.workflows, params.concurrency, (i) => consumerRun(i))
    const wallMs = performance.now() - start
    const used = process.cpuUsage(cpu)
    const serverMs = serverCpuMs() - server
    const per = perUnit(statementCounts(), params.workflows)
    return {
      concurrency: params.concurrency,
      workflows: params.workflows,
      wallMs: round(wallMs, 1),
      workflowsPerSec: round(params.workflows / (wallMs / 1000), 1),
      msPerWorkflow: round(wallMs / params.workflows),
      nodeCpuMsPerWorkflow: round((used.user + used.system) / 1000 / params.workflows),
      serverCpuMsPerWorkflow: round(serverMs / params.workflows),
      statementsPerWorkflow: per.total!,
      transactionsPerWorkflow: per.commit!,
    }
  } finally {
    if (launched) await DBOS.shutdown()
    await system.drop()
  }
}
