/**
 * Pipeline throughput: one session runs the producer (N events) and then N consumer runs, on a fresh SQLite file.
 * events/s counts the whole session, as the anchor did; per-event p50/p99 are the gaps between consecutive
 * consumer commits.
 */
import { type Counters, instrument } from '../lib/instrument.js'
import { distribution, round } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { type BenchEnv, type Synchronous, openEnv, pipelineScript, recordCommits } from '../lib/workload.js'

/** Parameters of one pipeline run. */
export interface PipelineParams {
  synchronous: Synchronous
  events: number
  /** mutate calls a no-op mutation tool (two more commits per event: the ledger row in_flight, then applied). */
  useTool?: boolean
  /** The engine resets used sandbox instances in place (`sandboxRecycle`, opt-in) instead of creating new ones. */
  recycle?: boolean
  /** Diagnostic run: count commits and statements and attribute time (slower; never mixed with timed runs). */
  profile?: boolean
  /**
   * Events of an untimed session run first on the same engine (another workflow in the same file): the measured
   * session then sees a warm process, as a long-running worker does (JIT, the sandbox thread's instance image).
   */
  warmUp?: number
}

/** Runs one pipeline session on a fresh file and returns its figures. */
export async function pipeline(params: PipelineParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.file('pipeline.db'), { synchronous: params.synchronous, engine: { sandboxRecycle: params.recycle ?? false } })
  try {
    if (params.warmUp !== undefined && params.warmUp > 0) {
      const warm = await env.engine.deployWorkflow({ title: 'bench warm-up', code: pipelineScript(params.warmUp, { useTool: params.useTool }) })
      const result = await env.engine.runSession(warm.workflowId, { maxIterations: params.warmUp + 10 })
      if (result.status !== 'completed') throw new Error(`warm-up session ${result.status}`)
    }
    const { workflowId } = await env.engine.deployWorkflow({ title: 'bench pipeline', code: pipelineScript(params.events, { useTool: params.useTool }) })
    return await runPipelineSession(env, { workflowId, events: params.events, profile: params.profile === true })
  } finally {
    await env.close()
    dir.remove()
  }
}

/** A pipeline session to measure: its workflow, its number of events, and whether it is a diagnostic run. */
export interface PipelineSession {
  workflowId: string
  events: number
  /** Diagnostic run (see {@link PipelineParams.profile}); default false. */
  profile?: boolean
}

/**
 * Runs one manual session of a deployed pipeline workflow (its producer publishes `events` events, then the
 * consumer takes them one per run) and measures it.
 */
export async function runPipelineSession(env: BenchEnv, { workflowId, events, profile = false }: PipelineSession): Promise<Record<string, number>> {
  const probe = profile ? instrument(env.engine, env.db) : undefined
  const commits = recordCommits(env.engine)
  // The breakdown covers the consumer runs only: counters restart when the producer commits.
  const offReset = probe ? env.engine.on('run:end', () => commits.all.length === 1 && probe.reset()) : () => {}
  ;(globalThis as { gc?: () => void }).gc?.()
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  const result = await env.engine.runSession(workflowId, { maxIterations: events + 10 })
  const wallMs = performance.now() - start
  const cpu = process.cpuUsage(cpuStart)
  commits.stop()
  offReset()
  if (result.status !== 'completed') throw new Error(`session ${result.status}: ${result.error ?? result.reason ?? ''}`)
  const consumed = commits.consumer.length
  if (consumed < events) throw new Error(`only ${consumed} of ${events} events were consumed`)
  const producerDone = commits.all[0]!
  const gaps = commits.consumer.map((t, i) => t - (i === 0 ? producerDone : commits.consumer[i - 1]!))
  const perEvent = distribution(gaps)
  const consumerMs = commits.consumer.at(-1)! - producerDone
  const figures: Record<string, number> = {
    eventsPerSec: round(events / (wallMs / 1000), 1),
    msPerEvent: round(wallMs / events),
    consumerMsPerEvent: round(consumerMs / events),
    p50: perEvent.p50,
    p99: perEvent.p99,
    producerMs: round(producerDone - start, 1),
    // CPU time of the whole process (every thread) per event: less sensitive than wall time to a busy machine.
    cpuMsPerEvent: round((cpu.user + cpu.system) / 1000 / events),
  }
  if (probe) Object.assign(figures, perEventCounters(probe.counters, events, consumerMs))
  return figures
}

/** Counters per event, and the main-thread time breakdown in ms per event (`otherMs` is the rest). */
function perEventCounters(c: Counters, events: number, wallMs: number): Record<string, number> {
  const per = (n: number) => round(n / events, 3)
  const other = wallMs - c.sandboxMs - c.hostMs - c.transactionMs - c.commitMs
  return {
    commitsPerEvent: per(c.commits),
    transactionsPerEvent: per(c.transactions),
    statementsPerEvent: per(c.statements),
    statementsInTransactionsPerEvent: per(c.statementsInTransactions),
    evaluationsPerEvent: per(c.evaluations),
    hostCallsPerEvent: per(c.hostCalls),
    sandboxMs: per(c.sandboxMs),
    hostMs: per(c.hostMs),
    transactionMs: per(c.transactionMs),
    commitMs: per(c.commitMs),
    otherMs: per(other),
    statementNativeMs: per(c.statementMs),
    totalMs: per(wallMs),
  }
}
