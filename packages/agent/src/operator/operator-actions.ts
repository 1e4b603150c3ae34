/**
 * Operator actions (SPEC §8): pause, resume, retry after a fix, resolve an unknown mutation outcome, requeue a
 * dead event, run now, and publishing external events. Each is one transaction (or a transaction followed by a
 * session), and none lets an operator's pause turn into `error`.
 */
import type { HandlerRun } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import { IllegalStateError, LogicError, NotFoundError } from '../errors.js'
import { checkpoint } from '../handler/checkpoint.js'
import { executeWorkflowSessionIfIdle } from '../session/run-session.js'
import type { SessionOptions, SessionResult } from '../session/session-result.js'

async function workflowOf(ctx: EngineContext, workflowId: string) {
  const workflow = await ctx.db.workflows.get(workflowId)
  if (!workflow) throw new NotFoundError('workflow', workflowId)
  return workflow
}

/** Pauses a workflow: no session starts, and a running session stops at its next checkpoint. Never becomes `error`. */
export async function pauseWorkflow(ctx: EngineContext, workflowId: string): Promise<void> {
  const workflow = await workflowOf(ctx, workflowId)
  if (workflow.status === 'paused') return
  const ok = await ctx.db.workflows.transitionStatus(workflowId, { from: ['active', 'error'], to: 'paused', now: ctx.clock.now() })
  if (!ok) throw new IllegalStateError(`Workflow '${workflowId}' is ${workflow.status}; only active or error workflows can be paused`)
  ctx.events.emit('workflow:status', { workflowId, from: workflow.status, to: 'paused', reason: 'paused by operator' })
}

/**
 * Makes the workflow's paused runs runnable again. A run paused because its mutation definitely did not happen
 * (auth or permission) continues in a new run that makes the mutation again; others continue where they stopped.
 * Refuses while a mutation outcome is indeterminate: resolve it first.
 */
async function releasePausedRuns(ctx: EngineContext, workflowId: string): Promise<void> {
  const indeterminate = await ctx.db.mutations.listByWorkflow(workflowId, { status: 'indeterminate' })
  if (indeterminate.length > 0) {
    throw new IllegalStateError(
      `Workflow '${workflowId}' has mutation(s) with an unknown outcome: ${indeterminate.map((m) => m.id).join(', ')}. Resolve each as applied, not_applied or skip first`,
      { mutations: indeterminate.map((m) => m.id) },
    )
  }
  for (const run of await ctx.db.runs.listUnfinished(workflowId)) {
    if (run.status !== 'paused') continue
    const ledger = run.phase === 'mutating' ? await ctx.db.mutations.getByRun(run.id) : undefined
    if (ledger?.status === 'failed') {
      await checkpoint(ctx, {
        run,
        ledger,
        decision: {
          patch: { status: 'failed', ended: true, error: `${run.error ?? 'mutation not applied'}; retried after resume` },
          effects: [{ type: 'retry-run', phase: 'prepared', status: 'active', retryAt: null, attempt: run.attempt + 1 }],
        },
      })
    } else {
      await checkpoint(ctx, { run, decision: { patch: { status: 'active', error: null, errorType: null }, effects: [] } })
    }
  }
}

/** Resumes a paused workflow (see {@link releasePausedRuns}); the scheduler (or `runNow`) runs it. */
export async function resumeWorkflow(ctx: EngineContext, workflowId: string): Promise<void> {
  const workflow = await workflowOf(ctx, workflowId)
  if (workflow.status === 'active') return
  if (workflow.status !== 'paused') {
    throw new IllegalStateError(`Workflow '${workflowId}' is ${workflow.status}; resume applies to paused workflows (use retry for error)`)
  }
  await releasePausedRuns(ctx, workflowId)
  await ctx.db.workflows.transitionStatus(workflowId, { from: ['paused'], to: 'active', error: null, errorType: null, now: ctx.clock.now() })
  ctx.events.emit('workflow:status', { workflowId, from: 'paused', to: 'active', reason: 'resumed by operator' })
}

/**
 * Retries a workflow after a fix: it becomes active and a `retry` session runs at once. The session re-runs
 * producers whose last run failed, and continues runs that failed after their mutation from `next` (on the current
 * script, with the real mutation result); runs that failed before it released their events, which are consumed
 * again. Returns `null` when another session is open.
 */
export async function retryWorkflow(ctx: EngineContext, workflowId: string, options: Omit<SessionOptions, 'trigger'> = {}): Promise<SessionResult | null> {
  const workflow = await workflowOf(ctx, workflowId)
  if (workflow.status === 'archived' || workflow.status === 'draft') {
    throw new IllegalStateError(`Workflow '${workflowId}' is ${workflow.status}; it cannot be retried`)
  }
  if (workflow.status !== 'active') {
    await releasePausedRuns(ctx, workflowId)
    await ctx.db.workflows.transitionStatus(workflowId, { from: ['paused', 'error'], to: 'active', error: null, errorType: null, now: ctx.clock.now() })
    ctx.events.emit('workflow:status', { workflowId, from: workflow.status, to: 'active', reason: 'retried by operator' })
  }
  return executeWorkflowSessionIfIdle(ctx, workflowId, { ...options, trigger: 'retry' })
}

/** Makes every producer due and runs a `manual` session now. Returns `null` when another session is open. */
export async function runNow(ctx: EngineContext, workflowId: string, options: Omit<SessionOptions, 'trigger'> = {}): Promise<SessionResult | null> {
  await workflowOf(ctx, workflowId)
  await ctx.db.schedules.makeDue(workflowId, ctx.clock.now())
  return executeWorkflowSessionIfIdle(ctx, workflowId, { ...options, trigger: 'manual' })
}

/** How an operator settles a mutation whose outcome was unknown. */
export type Resolution = 'applied' | 'not_applied' | 'skip'

/** What a resolution did. */
export interface ResolutionResult {
  mutationId: string
  runId: string
  status: 'applied' | 'failed' | 'skipped'
  /** True when the workflow was paused only for this mutation and is active again. */
  workflowResumed: boolean
}

/**
 * Settles an `indeterminate` mutation. `applied`: the run continues to `next` with `result`. `not_applied`: the run
 * ends, its events are released and run again. `skip`: `next` gets `{ status: 'skipped' }` and the events end
 * `skipped`. A workflow that was paused only for this mutation becomes active again.
 */
export async function resolveMutation(
  ctx: EngineContext,
  mutationId: string,
  resolution: Resolution,
  options: { result?: unknown; by?: string } = {},
): Promise<ResolutionResult> {
  const ledger = await ctx.db.mutations.get(mutationId)
  if (!ledger) throw new NotFoundError('mutation', mutationId)
  if (ledger.status !== 'indeterminate') {
    throw new IllegalStateError(`Mutation '${mutationId}' is ${ledger.status}; only indeterminate mutations can be resolved`)
  }
  const run = (await ctx.db.runs.get(ledger.handler_run_id)) as HandlerRun
  const now = ctx.clock.now()
  const by = options.by ?? 'operator'
  const status = resolution === 'applied' ? 'applied' : resolution === 'skip' ? 'skipped' : 'failed'
  const resumed = await ctx.db.transaction(async (tx) => {
    const ok = await tx.mutations.transition(mutationId, ['indeterminate'], {
      status,
      ...(resolution === 'applied' ? { result: JSON.stringify(options.result ?? null) } : {}),
      ...(resolution === 'not_applied' ? { error: JSON.stringify({ name: 'Resolved', message: `resolved as not applied by ${by}`, code: 'resolved_not_applied', type: 'indeterminate', retryable: false }) } : {}),
      resolvedBy: by,
      resolvedAt: now,
      now,
    })
    if (!ok) throw new IllegalStateError(`Mutation '${mutationId}' changed while it was being resolved; try again`)
    if (resolution === 'not_applied') {
      await tx.events.release(run.id, { maxAttempts: ctx.config.maxEventAttempts, now })
      await tx.runs.transition(run.id, { status: ['paused', 'active', 'waiting'] }, {
        status: 'failed',
        end_timestamp: now,
        retry_at: null,
        error: `mutation ${mutationId} resolved as not applied by ${by}; its events were released to run again`,
        error_type: 'indeterminate',
      })
    } else {
      await tx.runs.transition(run.id, { status: ['paused', 'active', 'waiting'] }, { phase: 'mutated', status: 'active', retry_at: null, attempt: 1, error: null, error_type: null })
    }
    const workflow = await tx.workflows.get(run.workflow_id)
    const others = await tx.mutations.listByWorkflow(run.workflow_id, { status: 'indeterminate' })
    if (workflow?.status === 'paused' && workflow.error_type === 'indeterminate' && others.length === 0) {
      return tx.workflows.transitionStatus(run.workflow_id, { from: ['paused'], to: 'active', error: null, errorType: null, now })
    }
    return false
  })
  ctx.events.emit('mutation:resolved', { mutationId, workflowId: run.workflow_id, status, resolvedBy: by })
  if (resumed) ctx.events.emit('workflow:status', { workflowId: run.workflow_id, from: 'paused', to: 'active', reason: `mutation ${mutationId} resolved` })
  return { mutationId, runId: run.id, status, workflowResumed: resumed }
}

/** Puts a dead event back to pending (attempts reset); the workflow's consumers become eligible for it again. */
export async function requeueEvent(ctx: EngineContext, eventId: string): Promise<void> {
  const event = await ctx.db.events.get(eventId)
  if (!event) throw new NotFoundError('event', eventId)
  const now = ctx.clock.now()
  const ok = await ctx.db.transaction(async (tx) => {
    if (!(await tx.events.requeue(eventId, now))) return false
    // The event keeps its old sequence, which idle markers may already cover: clear them.
    for (const w of await tx.wakeups.list(event.workflow_id)) {
      if (w.idle_after_sequence !== null) await tx.wakeups.set(event.workflow_id, w.consumer_name, { idleAfterSequence: null, wakeAt: w.wake_at, now })
    }
    return true
  })
  if (!ok) throw new IllegalStateError(`Event '${eventId}' is ${event.status}; only dead events can be requeued`)
}

/** An event from outside the workflow. */
export interface ExternalEvent {
  messageId: string
  title?: string
  payload?: unknown
}

/** Publishes an event into a workflow topic from outside (idempotent: the first write of a messageId wins). */
export async function publishEvent(ctx: EngineContext, workflowId: string, topic: string, event: ExternalEvent): Promise<{ eventId: string | undefined; duplicate: boolean }> {
  await workflowOf(ctx, workflowId)
  if (typeof event.messageId !== 'string' || event.messageId.length === 0) throw new LogicError('publish: messageId must be a non-empty string', { code: 'invalid_event' })
  if (!(await ctx.db.topics.getByName(workflowId, topic))) {
    throw new LogicError(`publish: workflow '${workflowId}' has no topic '${topic}'`, { code: 'unknown_topic' })
  }
  const payload = JSON.stringify(event.payload ?? null)
  if (Buffer.byteLength(payload) > ctx.config.maxPayloadBytes) {
    throw new LogicError(`publish: payload is ${Buffer.byteLength(payload)} bytes; the limit is ${ctx.config.maxPayloadBytes}`, { code: 'payload_too_large' })
  }
  const id = ctx.ids('event')
  const outcome = await ctx.db.events.publish(
    workflowId,
    [{ id, topic, messageId: event.messageId, title: event.title ?? '', payload, createdByRunId: null }],
    ctx.clock.now(),
  )
  const inserted = outcome.inserted[0]
  if (inserted) ctx.events.emit('event:published', { workflowId, topic, messageId: event.messageId, eventId: inserted.id, runId: null })
  else ctx.events.emit('event:duplicate', { workflowId, topic, messageId: event.messageId, runId: null })
  return { eventId: inserted?.id, duplicate: !inserted }
}
