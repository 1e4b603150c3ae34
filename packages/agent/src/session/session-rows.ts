/** The session's own rows: opening (with the schedule advance), creating runs, closing. */
import type { ErrorType, HandlerRun, HandlerType, RunPhase, SeenWorkflow, Session, SessionStatus, SessionTrigger } from '@ledgerflow/db'
import { readJsonColumn } from '@ledgerflow/db'
import { z } from 'zod'
import type { EngineContext, LoadedScript } from '../context.js'
import { EngineError, WorkflowNotRunnableError } from '../errors.js'
import { runRow } from '../handler/run-row.js'
import { nextRunAfter } from '../scheduler/schedule-math.js'
import type { SessionOptions, SessionResult } from './session-result.js'

const producerListSchema = z.array(z.string())

/** The producers a session runs, fixed when it opened. */
export function parseProducerList(session: Session): string[] {
  const json = readJsonColumn(session.producers, { table: 'script_runs', column: 'producers', rowId: session.id })
  const parsed = producerListSchema.safeParse(json)
  return parsed.success ? parsed.data : []
}

/**
 * Checks that a workflow can run and loads its active script. A script whose stored config is corrupt still opens
 * a session (with no producers), which then fails visibly with the reason and puts the workflow in `error`.
 */
export async function runnableScript(ctx: EngineContext, workflowId: string): Promise<LoadedScript | { id: string; workflowId: string; broken: true }> {
  const workflow = await ctx.db.workflows.get(workflowId)
  if (!workflow) throw new WorkflowNotRunnableError(workflowId, 'not_found', `Workflow '${workflowId}' does not exist`)
  if (workflow.status !== 'active') {
    throw new WorkflowNotRunnableError(workflowId, 'not_active', `Workflow '${workflowId}' is ${workflow.status}, not active; resume it first`)
  }
  if (!workflow.active_script_id) {
    throw new WorkflowNotRunnableError(workflowId, 'no_active_script', `Workflow '${workflowId}' has no active script; deploy one first`)
  }
  try {
    return await ctx.loadScript(workflow.active_script_id)
  } catch (error) {
    if (!EngineError.isInstance(error) || error.code !== 'corrupt_handler_config') throw error
    return { id: workflow.active_script_id, workflowId, broken: true }
  }
}

/** Which producers the `trigger` of a session opening at `now` runs, in declared order. */
async function plannedProducers(
  ctx: EngineContext,
  script: LoadedScript | { broken: true },
  { trigger, now }: { trigger: SessionTrigger; now: number },
): Promise<string[]> {
  if ('broken' in script) return []
  const names = script.config.producers.map((p) => p.name)
  switch (trigger) {
    case 'manual':
      return names
    case 'event':
      return []
    case 'schedule': {
      const due = new Set((await ctx.db.schedules.list(script.workflowId)).filter((s) => s.next_run_at <= now).map((s) => s.producer_name))
      return names.filter((n) => due.has(n))
    }
    case 'retry': {
      // Producers whose latest run failed run again after a fix.
      const rows = await ctx.db.kysely
        .selectFrom('handler_runs')
        .select(['handler_name', 'status'])
        .where('workflow_id', '=', script.workflowId)
        .where('handler_type', '=', 'producer')
        .orderBy('start_timestamp', 'desc')
        .orderBy('ordinal', 'desc')
        .limit(1000)
        .execute()
      const latest = new Map<string, string>()
      for (const r of rows) if (!latest.has(r.handler_name)) latest.set(r.handler_name, r.status)
      return names.filter((n) => latest.get(n) === 'failed')
    }
  }
}

/**
 * Opens a session atomically: the partial unique index refuses a second open session of the workflow. The due
 * producers' schedules advance in the same transaction (missed runs coalesce into this one), so a crash after the
 * open neither loses nor repeats a scheduled run: recovery runs the producers the session had not run yet.
 * Returns undefined when a session is already open.
 */
export async function openSession(ctx: EngineContext, workflowId: string, options: SessionOptions): Promise<Session | undefined> {
  const script = await runnableScript(ctx, workflowId)
  const trigger = options.trigger ?? 'manual'
  const now = ctx.clock.now()
  const producers = await plannedProducers(ctx, script, { trigger, now })
  // Only the planned producers' schedules advance: none to read for a session that runs no producer.
  const schedules = producers.length === 0 ? [] : await ctx.db.schedules.list(workflowId)
  const id = ctx.ids('session')
  const row = {
    id,
    workflow_id: workflowId,
    script_id: script.id,
    trigger,
    error: null,
    error_type: null,
    budget_exhausted: null,
    producers: JSON.stringify(producers),
    max_iterations: options.maxIterations ?? ctx.config.maxIterations,
    max_cost_microdollars: options.maxCostMicrodollars ?? null,
    max_duration_ms: options.maxDurationMs ?? null,
    start_timestamp: now,
    owner: ctx.config.workerId,
    lease_expires_at: now + ctx.config.leaseMs,
  }
  const session = await ctx.db.transaction(async (tx) => {
    const workflow = await tx.workflows.get(workflowId)
    if (!workflow || workflow.status !== 'active' || workflow.active_script_id !== script.id) {
      throw new WorkflowNotRunnableError(workflowId, 'not_active', `Workflow '${workflowId}' changed while its session was opening; try again`)
    }
    const inserted = await tx.sessions.openRow(row)
    if (!inserted) return undefined
    // The insert may have waited for the previous session's close to commit (PostgreSQL): read the clock again so
    // the start stamp is never earlier than that session's end, and sessions of a workflow never seem to overlap.
    const openedAt = ctx.clock.now()
    if (openedAt !== now) {
      await tx.sessions.stampStart(id, openedAt, openedAt + ctx.config.leaseMs)
      Object.assign(inserted, { start_timestamp: openedAt, lease_expires_at: openedAt + ctx.config.leaseMs })
    }
    for (const s of schedules) {
      if (s.next_run_at > now || !producers.includes(s.producer_name)) continue
      const next = nextRunAfter({ kind: s.kind, expression: s.expression, timezone: s.timezone }, now)
      await tx.schedules.advance(workflowId, s.producer_name, { expectedNextRunAt: s.next_run_at, nextRunAt: next, lastRunAt: now, now })
    }
    return inserted
  })
  if (!session) return undefined
  // CRASH WINDOW: the session is open and owned; recovery continues it once its lease expires.
  ctx.fault('session:after-open', { workflowId, sessionId: id })
  ctx.events.emit('session:start', { sessionId: id, workflowId, trigger })
  return session
}

/** What a new run is. */
export interface NewRun {
  handlerType: HandlerType
  handlerName: string
  phase: RunPhase
  /** A continuation of this failed run: copies its prepare result and takes over its reservations. */
  retryOf?: HandlerRun
  /** The run's id, when the caller needed it before the row exists (a prepare started ahead). Default: a new one. */
  id?: string
}

/**
 * Creates a run in the session (with its ordinal and the session's run count) and returns it as written, with the
 * workflow's status and event sequence when the insert's statement read them (PostgreSQL, a run that continues no
 * other): the run's first turn takes them for its pause check instead of reading the workflow again.
 */
export async function createRun(ctx: EngineContext, session: Session, run: NewRun): Promise<{ run: HandlerRun; workflow?: SeenWorkflow }> {
  const id = run.id ?? ctx.ids('run')
  const now = ctx.clock.now()
  const row = runRow({
    id,
    sessionId: session.id,
    workflowId: session.workflow_id,
    scriptId: session.script_id,
    handlerType: run.handlerType,
    handlerName: run.handlerName,
    phase: run.phase,
    now,
    ...(run.retryOf ? { retryOf: run.retryOf } : {}),
  })
  // insertNext takes the next ordinal and counts the run in the session atomically (one statement on PostgreSQL), so
  // a plain run needs no transaction of its own; a continuation also takes over the failed run's reservations.
  const retryOf = run.retryOf
  const created = !retryOf
    ? await ctx.db.runs.insertNextRunSeeing(row)
    : await ctx.db.transaction(async (tx) => {
        const inserted = await tx.runs.insertNextRun(row)
        await tx.events.transfer(retryOf.id, id, now)
        return { run: inserted }
      })
  // CRASH WINDOW: the run exists and is active; recovery resumes it from its first phase.
  ctx.fault('run:after-create', { workflowId: session.workflow_id, sessionId: session.id, runId: id, phase: run.phase })
  ctx.events.emit('run:start', { runId: id, sessionId: session.id, workflowId: session.workflow_id, handlerType: run.handlerType, handlerName: run.handlerName })
  return created
}

/** How to close a session. */
export interface SessionEnd {
  status: Exclude<SessionStatus, 'running'>
  error?: string
  errorType?: ErrorType
  budgetExhausted?: 'iterations' | 'cost' | 'time'
}

/** Closes a session (cost and run count as SQL aggregates); a failed session also puts an active workflow in `error`. */
export async function closeSession(ctx: EngineContext, session: Session, end: SessionEnd): Promise<SessionResult> {
  // CRASH WINDOW: every run is settled; a crash leaves the session open and recovery closes it.
  ctx.fault('session:before-close', { workflowId: session.workflow_id, sessionId: session.id })
  const now = ctx.clock.now()
  const planned = parseProducerList(session)
  const close = { status: end.status, error: end.error ?? null, errorType: end.errorType ?? null, budgetExhausted: end.budgetExhausted ?? null, now }
  // The close alone is one statement, atomic by itself: no transaction (two round trips fewer on PostgreSQL).
  let workflowToError = false
  if (planned.length === 0 && end.status !== 'failed') await ctx.db.sessions.close(session.id, close)
  else workflowToError = await ctx.db.transaction(async (tx) => {
    // The schedules of planned producers advanced when the session opened; any that did not get to run (a stop, a
    // pause, an earlier failure) are due again, so no scheduled run is lost.
    if (planned.length > 0) {
      const ran = new Set((await tx.runs.listBySession(session.id)).filter((r) => r.handler_type === 'producer').map((r) => r.handler_name))
      const missed = planned.filter((name) => !ran.has(name))
      if (missed.length > 0) await tx.schedules.makeDue(session.workflow_id, now, missed)
    }
    await tx.sessions.close(session.id, close)
    if (end.status !== 'failed') return false
    return tx.workflows.transitionStatus(session.workflow_id, {
      from: ['active'],
      to: 'error',
      error: end.error ?? 'session failed',
      errorType: end.errorType ?? 'internal',
      now,
    })
  })
  if (workflowToError) ctx.events.emit('workflow:status', { workflowId: session.workflow_id, from: 'active', to: 'error', reason: end.error })
  ctx.events.emit('session:end', {
    sessionId: session.id,
    workflowId: session.workflow_id,
    status: end.status,
    ...(end.error ? { error: end.error } : {}),
    ...(end.budgetExhausted ? { budgetExhausted: end.budgetExhausted } : {}),
  })
  return {
    sessionId: session.id,
    status: end.status,
    ...(end.status === 'failed' && end.error ? { error: end.error } : {}),
    ...(end.errorType ? { errorType: end.errorType } : {}),
    ...(end.status === 'suspended' && end.error ? { reason: end.error } : {}),
    ...(end.budgetExhausted ? { budgetExhausted: end.budgetExhausted } : {}),
  }
}
