/**
 * Scaling: per-event cost with many events already in the database (a copy of a raw-SQL template), and with many
 * workflows sharing one worker.
 */
import { round } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { openEnv } from '../lib/workload.js'
import { runPipelineSession } from './pipeline.js'

/** Parameters of a history-size run. */
export interface HistoryParams {
  template: string
  workflowId: string
  events: number
}

/**
 * The pipeline on a copy of a template that already holds many consumed events. Under `synchronous=NORMAL`: the
 * figure is about the size of the database (index depth, cache), and a FULL commit's fsync would also wait for the
 * kernel writing back the freshly copied 350 MB file.
 */
export async function scalingHistory(params: HistoryParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.copyTemplate(params.template, 'history.db'), { synchronous: 'NORMAL' })
  try {
    const figures = await runPipelineSession(env, { workflowId: params.workflowId, events: params.events })
    return { consumerMsPerEvent: figures.consumerMsPerEvent!, p50: figures.p50!, p99: figures.p99! }
  } finally {
    await env.close()
    dir.remove()
  }
}

/** Parameters of a workflow-count run. */
export interface WorkflowsParams {
  /** A copy of `pendingTemplate`: `workflows` workflows sharing `events` pending events. */
  template: string
  workflows: number
  events: number
}

/** A running worker consumes every pending event of the template's workflows: ms per event, start to last commit. */
export async function scalingWorkflows(params: WorkflowsParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.copyTemplate(params.template, 'workflows.db'), {
    synchronous: 'FULL',
    engine: { worker: { session: { maxIterations: 100_000 }, idleCheckMs: 60_000, recoveryIntervalMs: 600_000 } },
  })
  try {
    let committed = 0
    let timer: NodeJS.Timeout | undefined
    const done = new Promise<void>((resolve, reject) => {
      env.engine.on('run:end', (e) => {
        if (e.status === 'committed' && ++committed === params.events) resolve()
      })
      // A worker that stops finding work must fail the job, not stall the bench.
      timer = setTimeout(() => reject(new Error(`only ${committed} of ${params.events} events consumed in 300 s`)), 300_000)
    }).finally(() => clearTimeout(timer))
    ;(globalThis as { gc?: () => void }).gc?.()
    const start = performance.now()
    await env.engine.start()
    await done
    const wallMs = performance.now() - start
    await env.engine.stop()
    return { msPerEvent: round(wallMs / params.events), eventsPerSec: round(params.events / (wallMs / 1000), 1), workflows: params.workflows }
  } finally {
    await env.close()
    dir.remove()
  }
}
