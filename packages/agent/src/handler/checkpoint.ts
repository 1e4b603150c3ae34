/**
 * Performs one {@link Decision}: the run's new columns and every effect, in ONE transaction, guarded by the run's
 * phase and status as last read (compare-and-set), so a run moved by someone else is never overwritten.
 */
import type { HandlerRun, HandlerRunUpdate, LedgerflowTx, LogLine, Mutation, PickView, PublishOutcome, RunPrepareResult, WorkflowStatus } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import type { PhaseBuffer } from './phase-buffer.js'
import { runRow } from './run-row.js'
import type { Decision, Effect, RunPatch } from './transitions.js'

/** What a checkpoint needs besides the decision. */
export interface CheckpointInput {
  /** The run as last read; its phase and status guard the write. Updated in place when the write applies. */
  run: HandlerRun
  decision: Decision
  /** Buffers whose logs, cost and publishes this checkpoint writes (oldest first). */
  buffers?: readonly PhaseBuffer[]
  /** The run's ledger row, for `ledger` effects. */
  ledger?: Mutation
  /**
   * What the session's next pick reads (see {@link NextPick}): a commit checkpoint written as one statement returns
   * it in {@link CheckpointResult.view}.
   */
  nextPick?: NextPick
}

/** The workflow and the topics and handlers whose pick view the session loop reads before each consumer run. */
export interface NextPick {
  workflowId: string
  topics: readonly string[]
  handlers: readonly string[]
  /** Also read the oldest pending events of this topic, for the next run's first `Topics.peek` (see `PeekAhead`). */
  peek?: { topic: string; limit: number }
}

/** What a checkpoint did. */
export interface CheckpointResult {
  /** False when the run had moved (another worker); nothing was written. */
  applied: boolean
  /** Set when a `retry-run` effect created a new run. */
  retriedAs?: string
  published: PublishOutcome
  workflowChanged?: { to: 'error' | 'paused'; reason: string }
  /** Events a release turned `dead`. */
  deadEvents?: number
  /**
   * The workflow's status as the checkpoint saw it, when it read it (the one-statement prepared checkpoint does):
   * the run's next turn takes it instead of reading the workflow again.
   */
  workflow?: { status: WorkflowStatus | undefined }
  /**
   * With {@link CheckpointInput.nextPick}, when the run committed in one statement (PostgreSQL): the session's next
   * pick view, read in the commit's statement (see `RunStore.commitSeeing`).
   */
  view?: PickView
}

/** Converts a patch to the row update. */
export function patchToUpdate(patch: RunPatch, now: number): HandlerRunUpdate {
  const u: HandlerRunUpdate = {}
  if (patch.phase !== undefined) u.phase = patch.phase
  if (patch.status !== undefined) u.status = patch.status
  if (patch.attempt !== undefined) u.attempt = patch.attempt
  if (patch.retryAt !== undefined) u.retry_at = patch.retryAt
  if (patch.error !== undefined) u.error = patch.error
  if (patch.errorType !== undefined) u.error_type = patch.errorType
  if (patch.ended) u.end_timestamp = now
  if (patch.prepareResult !== undefined) u.prepare_result = patch.prepareResult
  if (patch.inputState !== undefined) u.input_state = patch.inputState
  if (patch.outputState !== undefined) u.output_state = patch.outputState
  return u
}

class RunMoved extends Error {}

/** What a checkpoint writes besides the decision: the log lines and cost taken from its buffers, at its time `now`. */
interface Taken {
  logs: readonly LogLine[]
  cost: number
  now: number
}

/**
 * The two commonest checkpoints of a consumer run on PostgreSQL, as one statement each, when there is no log line,
 * cost or publish to write with them: `prepared` (at most one event reserved, the wake-up row) through
 * `runs.prepare`, and `committed` (the run's events consumed, maybe a state) through `runs.commit`. Undefined for
 * any other checkpoint, which takes the transaction.
 */
function oneStatement(
  ctx: EngineContext,
  input: CheckpointInput,
  { logs, cost, now }: Taken,
): ((update: HandlerRunUpdate) => Promise<RunPrepareResult & { view?: PickView }>) | undefined {
  const { run, decision, nextPick } = input
  const buffers = input.buffers ?? []
  if (ctx.db.dialect !== 'postgres' || logs.length > 0 || cost !== 0 || buffers.some((b) => b.publishes.length > 0)) return undefined
  const guard = { phase: run.phase, status: run.status }
  const { patch, effects } = decision
  if (patch.phase === 'prepared' && patch.status === undefined) {
    let reserve: { topic: string; messageId: string } | undefined
    let wakeup: { idleAfterSequence: number | null; wakeAt: number | null } | undefined
    for (const effect of effects) {
      if (effect.type === 'wakeup') wakeup = { idleAfterSequence: effect.idleAfterSequence, wakeAt: effect.wakeAt }
      else if (effect.type === 'reserve') {
        const asked = effect.reservations.filter((r) => r.ids.length > 0)
        if (asked.length !== 1 || new Set(asked[0]!.ids).size !== 1) return undefined
        reserve = { topic: asked[0]!.topic, messageId: asked[0]!.ids[0]! }
      } else return undefined
    }
    if (!wakeup) return undefined
    const effectsOf = { workflowId: run.workflow_id, consumerName: run.handler_name, now, wakeup, ...(reserve ? { reserve } : {}) }
    return (update) => ctx.db.runs.prepare({ id: run.id, guard, set: update, effects: effectsOf })
  }
  if (patch.status === 'committed') {
    let consumes = false
    let state: string | undefined
    for (const effect of effects) {
      if (effect.type === 'events' && effect.action === 'consume') consumes = true
      else if (effect.type === 'state') state = effect.state
      else if (effect.type !== 'publish') return undefined
    }
    if (!consumes) return undefined
    const effectsOf = { now, ...(state === undefined ? {} : { state: { workflowId: run.workflow_id, handlerName: run.handler_name, state } }) }
    if (nextPick) {
      return async (update) => {
        const { applied, view } = await ctx.db.runs.commitSeeing({ id: run.id, guard, set: update, effects: effectsOf }, nextPick)
        return { outcome: applied ? 'applied' : 'moved', ...(view ? { view } : {}) }
      }
    }
    return async (update) => ({ outcome: (await ctx.db.runs.commit({ id: run.id, guard, set: update, effects: effectsOf })) ? 'applied' : 'moved' })
  }
  return undefined
}

/** Writes a decision in one transaction. Crash windows: before the commit nothing is written; after it, all is. */
export async function checkpoint(ctx: EngineContext, input: CheckpointInput): Promise<CheckpointResult> {
  const { run, decision } = input
  const buffers = input.buffers ?? []
  const now = ctx.clock.now()
  const phase = decision.patch.phase ?? run.phase
  const site = { workflowId: run.workflow_id, sessionId: run.script_run_id, runId: run.id, phase }
  const logs = buffers.flatMap((b) => b.takeLogs())
  const cost = buffers.reduce((sum, b) => sum + b.takeCost(), 0)
  const update = patchToUpdate(decision.patch, now)
  const result: CheckpointResult = { applied: false, published: { inserted: [], duplicates: [] } }

  // CRASH WINDOW: a crash here loses only this checkpoint; the run resumes from its previous phase.
  ctx.fault('run:before-checkpoint', site)
  const single = oneStatement(ctx, input, { logs, cost, now })
  try {
    // The same writes as the transaction below, as one statement on PostgreSQL (a round trip instead of five). A
    // refused reservation writes nothing; the transaction then runs, to say why (or to reserve, if it can now).
    const written = single ? await single(update) : undefined
    if (written?.outcome === 'moved') throw new RunMoved()
    if (written?.outcome === 'applied') {
      if ('workflowStatus' in written) result.workflow = { status: written.workflowStatus }
      if (written.view) result.view = written.view
    } else {
      await ctx.db.transaction(async (tx) => {
        // The callback may run again after a deadlock (PostgreSQL): start each attempt from a clean result, and keep
        // everything that is not database work (engine events) until after the commit.
        Object.assign(result, { published: { inserted: [], duplicates: [] }, retriedAs: undefined, workflowChanged: undefined, deadEvents: undefined })
        const moved = !(await tx.runs.transition(run.id, { phase: run.phase, status: run.status }, update))
        if (moved) throw new RunMoved()
        const notes: LogLine[] = []
        for (const effect of decision.effects) {
          await perform(ctx, tx, { run, effect, buffers, ledger: input.ledger, now, notes, result })
        }
        await tx.logs.append(run.id, [...logs, ...notes], { maxLines: ctx.config.maxLogLinesPerRun })
        await tx.runs.addCost(run.id, cost)
      })
    }
  } catch (error) {
    // Nothing was written: give the buffered logs and cost back for the checkpoint that follows.
    buffers[0]?.restore(logs, cost)
    if (error instanceof RunMoved) return result
    throw error
  }
  // CRASH WINDOW: the checkpoint is durable; a crash here resumes from the new phase.
  ctx.fault('run:after-checkpoint', site)
  Object.assign(run, update)
  result.applied = true
  emitAfter(ctx, run, result)
  return result
}

interface EffectInput<E extends Effect = Effect> {
  run: HandlerRun
  effect: E
  buffers: readonly PhaseBuffer[]
  ledger: Mutation | undefined
  now: number
  notes: LogLine[]
  result: CheckpointResult
}

/** Performs one effect of a decision inside the checkpoint's transaction. */
async function perform(ctx: EngineContext, tx: LedgerflowTx, e: EffectInput): Promise<void> {
  const { run, effect, now } = e
  switch (effect.type) {
    case 'reserve':
      // Throws ReservationRejectedError (nothing reserved): the whole checkpoint rolls back.
      await tx.events.reserve({ workflowId: run.workflow_id, runId: run.id, reservations: effect.reservations, now })
      return
    case 'events':
      if (effect.action === 'consume') await tx.events.consume(run.id, now)
      else if (effect.action === 'skip') await tx.events.skip(run.id, now)
      else await releaseEvents(ctx, tx, e)
      return
    case 'publish':
      return publishBuffered(ctx, tx, e)
    case 'state':
      await tx.handlerState.put({ workflowId: run.workflow_id, handlerName: run.handler_name, state: effect.state, runId: run.id, now })
      return
    case 'wakeup':
      await tx.wakeups.set(run.workflow_id, run.handler_name, { idleAfterSequence: effect.idleAfterSequence, wakeAt: effect.wakeAt, now })
      return
    case 'workflow': {
      const changed = await tx.workflows.transitionStatus(run.workflow_id, { from: ['active'], to: effect.to, error: effect.error, errorType: effect.errorType, now })
      if (changed) e.result.workflowChanged = { to: effect.to, reason: effect.error }
      return
    }
    case 'ledger':
      return settleLedger(tx, e, effect.change)
    case 'retry-run':
      return retryRun(ctx, tx, { ...e, effect })
  }
}

/** Releases the run's reserved events; those released too often become dead, and the run's log says so. */
async function releaseEvents(ctx: EngineContext, tx: LedgerflowTx, e: EffectInput): Promise<void> {
  const { run, now, notes, result } = e
  const { dead } = await tx.events.release(run.id, { maxAttempts: ctx.config.maxEventAttempts, now })
  if (dead === 0) return
  notes.push(note(e, 'warn', `${dead} event(s) released more than ${ctx.config.maxEventAttempts} times are now dead`))
  result.deadEvents = dead
}

/** Publishes the events the phases buffered; a duplicate message id is ignored (first write wins) and logged. */
async function publishBuffered(ctx: EngineContext, tx: LedgerflowTx, e: EffectInput): Promise<void> {
  const { run, buffers, now, notes, result } = e
  const events = buffers.flatMap((b) => b.publishes)
  if (events.length === 0) return
  const outcome = await tx.events.publish(
    run.workflow_id,
    events.map((p) => ({ id: ctx.ids('event'), ...p, createdByRunId: run.id })),
    now,
  )
  for (const d of outcome.duplicates) {
    notes.push(note(e, 'info', `Topics.publish: messageId '${d.messageId}' already exists in '${d.topic}'; ignored (first write wins)`))
  }
  result.published = outcome
}

/** Moves the run's ledger row as decided, by compare-and-set on the status it was read with. */
async function settleLedger(tx: LedgerflowTx, { run, ledger, now }: EffectInput, change: Extract<Effect, { type: 'ledger' }>['change']): Promise<void> {
  if (!ledger) throw new Error(`ledger effect without a ledger row (run ${run.id})`)
  const from = ledger.status === 'applied' ? [] : [ledger.status]
  const ok = await tx.mutations.transition(ledger.id, from as never, {
    status: change.status,
    result: change.result,
    error: change.error,
    errorType: change.errorType,
    reconcileAttempts: change.reconcileAttempts,
    nextReconcileAt: change.nextReconcileAt,
    now,
  })
  if (!ok) throw new RunMoved()
}

/** Continues the run as a new run of the same handler (in the open session), which takes over its reserved events. */
async function retryRun(ctx: EngineContext, tx: LedgerflowTx, e: EffectInput<Extract<Effect, { type: 'retry-run' }>>): Promise<void> {
  const { run, effect, now, notes, result } = e
  const id = ctx.ids('run')
  const session = (await tx.sessions.getOpen(run.workflow_id)) ?? { id: run.script_run_id }
  await tx.runs.insertNext(
    runRow({
      id,
      sessionId: session.id,
      workflowId: run.workflow_id,
      scriptId: run.script_id,
      handlerType: run.handler_type,
      handlerName: run.handler_name,
      phase: effect.phase,
      now,
      status: effect.status,
      attempt: effect.attempt,
      retryAt: effect.retryAt,
      retryOf: run,
    }),
  )
  await tx.events.transfer(run.id, id, now)
  notes.push(note(e, 'info', `continues as run ${id}`))
  result.retriedAs = id
}

/** A log line of the checkpoint (at its time, in the run's phase). */
function note({ run, now }: Pick<EffectInput, 'run' | 'now'>, level: LogLine['level'], message: string): LogLine {
  return { timestamp: now, phase: run.phase, level, message }
}

function emitAfter(ctx: EngineContext, run: HandlerRun, result: CheckpointResult): void {
  const ev = ctx.events
  ev.emit('run:phase', { runId: run.id, workflowId: run.workflow_id, phase: run.phase, status: run.status })
  for (const p of result.published.inserted) {
    ev.emit('event:published', { workflowId: run.workflow_id, topic: p.topic, messageId: p.messageId, eventId: p.id, runId: run.id })
  }
  for (const d of result.published.duplicates) {
    ev.emit('event:duplicate', { workflowId: run.workflow_id, topic: d.topic, messageId: d.messageId, runId: run.id })
  }
  if (result.deadEvents) ev.emit('event:dead', { workflowId: run.workflow_id, runId: run.id, count: result.deadEvents })
  if (result.workflowChanged) {
    ev.emit('workflow:status', { workflowId: run.workflow_id, from: 'active', to: result.workflowChanged.to, reason: result.workflowChanged.reason })
  }
  if (run.status === 'committed' || run.status === 'failed' || run.status === 'paused' || run.status === 'waiting') {
    ev.emit('run:end', {
      runId: run.id,
      workflowId: run.workflow_id,
      phase: run.phase,
      status: run.status,
      ...(run.error ? { error: run.error } : {}),
      ...(run.error_type ? { errorType: run.error_type } : {}),
    })
  }
}
