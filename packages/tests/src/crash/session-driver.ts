/**
 * The deterministic driver of a trial's process: one session at a time on a manual clock, retries after advancing
 * the clock, and a scripted operator. Also the checks both drivers share: what a workflow needs next, and when the
 * scenario is done.
 */
import type { Engine } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import type { ManualClock } from '../kit/manual-clock.js'
import { type ScenarioSize, type ScenarioTools, workflowIds } from './scenario.js'

/** What the driver did (for the campaign's report). */
export interface DriveStats {
  sessions: number
  resolved: number
  resumed: number
}

/** Options of {@link driveScenario}. */
export interface DriveOptions {
  engine: Engine
  db: LedgerflowDb
  clock: ManualClock
  size: ScenarioSize
  tools: ScenarioTools
  /** Consumer runs per session (small: more sessions, more crash windows). */
  maxIterations?: number
}

/**
 * Drives every workflow until nothing is left to do, deterministically: one session at a time, retries after
 * advancing the manual clock, and an operator who resumes workflows paused for auth and resolves indeterminate
 * mutations truthfully by looking the idempotency key up in the effect log (as a person would at the outside
 * system), and retries a workflow whose transient retries ran out. Throws when a workflow ends in `error` for any
 * other reason (nothing in the scenario should put it there).
 */
export async function driveScenario(options: DriveOptions): Promise<DriveStats> {
  const { engine, db, clock, size } = options
  const stats: DriveStats = { sessions: 0, resolved: 0, resumed: 0 }
  const ids = workflowIds(size)
  for (let round = 0; round < 100_000; round++) {
    let due = false
    let wakeAt = Number.POSITIVE_INFINITY
    for (const workflowId of ids) {
      const action = await nextAction(db, workflowId, size, clock.now())
      if (action.kind === 'idle') continue
      if (action.kind === 'wait') {
        wakeAt = Math.min(wakeAt, action.at)
        continue
      }
      due = true
      if (action.kind === 'operate') {
        const s = await operate(options, workflowId)
        stats.resolved += s.resolved
        stats.resumed += s.resumed
        continue
      }
      stats.sessions++
      await engine.runSession(workflowId, { trigger: action.trigger, maxIterations: options.maxIterations ?? 3 })
    }
    if (due) continue
    if (wakeAt === Number.POSITIVE_INFINITY) return stats
    await clock.advanceTo(wakeAt)
  }
  throw new Error('the scenario did not settle in 100000 rounds')
}

/** True when every workflow of the scenario has nothing left to do (the end of a trial). */
export async function scenarioDone(db: LedgerflowDb, size: ScenarioSize, now: number): Promise<boolean> {
  for (const id of workflowIds(size)) if ((await nextAction(db, id, size, now)).kind !== 'idle') return false
  return true
}

type Action = { kind: 'idle' } | { kind: 'wait'; at: number } | { kind: 'operate' } | { kind: 'session'; trigger: 'manual' | 'retry' | 'event' }

export async function nextAction(db: LedgerflowDb, workflowId: string, size: ScenarioSize, now: number): Promise<Action> {
  const workflow = await db.workflows.get(workflowId)
  if (!workflow) throw new Error(`workflow ${workflowId} is missing`)
  // A run whose transient retries ran out (kills that interrupt a mutation count as attempts too) puts the workflow in
  // `error` by policy: the operator retries it, as a person would. Any other error is a bug in the scenario or engine.
  if (workflow.status === 'error' && workflow.error_type !== 'network') throw new Error(`workflow ${workflowId} is in error: ${workflow.error}`)
  if (workflow.status === 'paused' || workflow.status === 'error') return { kind: 'operate' }
  const [run] = await db.runs.listUnfinished(workflowId)
  if (run) {
    if (run.status === 'waiting' && run.retry_at !== null && run.retry_at > now) return { kind: 'wait', at: run.retry_at }
    if (run.status === 'paused') return { kind: 'operate' }
    return { kind: 'session', trigger: 'retry' }
  }
  const gen = await db.handlerState.get(workflowId, 'gen')
  const produced = gen?.state ? (JSON.parse(gen.state) as { n: number }).n : 0
  if (produced < size.items) return { kind: 'session', trigger: 'manual' }
  const pending = (await db.events.countByStatus(workflowId)).pending ?? 0
  return pending > 0 ? { kind: 'session', trigger: 'event' } : { kind: 'idle' }
}

/** The operator: resolves indeterminate mutations by the effect log, then resumes the workflow. */
export async function operate(options: DriveOptions, workflowId: string): Promise<{ resolved: number; resumed: number }> {
  const { engine, db, tools } = options
  let resolved = 0
  for (const m of await db.mutations.listByWorkflow(workflowId, { status: 'indeterminate' })) {
    const tool = m.tool_namespace === 'Out' ? tools.send : tools.audit
    const applied = tool.effects.count(m.idempotency_key) > 0
    await engine.resolveMutation(m.id, applied ? 'applied' : 'not_applied', { result: applied ? { ok: true, key: m.idempotency_key } : undefined, by: 'campaign-operator' })
    resolved++
  }
  const workflow = await db.workflows.get(workflowId)
  if (workflow?.status === 'paused') {
    await engine.resume(workflowId)
    return { resolved, resumed: 1 }
  }
  if (workflow?.status === 'error') {
    // Retries ran out on a network error: make the workflow active again; the released events are consumed again.
    await engine.retry(workflowId, { maxIterations: 3 })
    return { resolved, resumed: 1 }
  }
  if (resolved === 0) {
    const [run] = await db.runs.listUnfinished(workflowId)
    throw new Error(`workflow ${workflowId} is ${workflow?.status} but its run ${run?.id} is ${run?.status}: nothing will move it`)
  }
  return { resolved, resumed: 0 }
}
