/**
 * Steps 2–5 of a session (SPEC §7), shared by a fresh session and a recovered one: finish the workflow's
 * unfinished runs, run the session's producers that have not run yet, run the consumer loop while work and budget
 * last, and close the session. The same code continues a session after a crash.
 */
import type { ErrorType, HandlerRun, PickView, Session, WorkflowStatus } from '@ledgerflow/db'
import type { JsonValue } from '@ledgerflow/sandbox'
import { SpanStatusCode, context, trace } from '@opentelemetry/api'
import type { EngineContext, LoadedScript } from '../context.js'
import { toEngineError } from '../errors.js'
import { rethrowCrash } from '../faults.js'
import { type ExecuteOptions, type HandlerResult, executeHandler } from '../handler/execute-handler.js'
import { startPrepareAhead } from '../handler/phase-evaluations.js'
import { parseState } from '../handler/run-inputs.js'
import { PeekAhead } from '../handler/peek-ahead.js'
import { LeaseKeeper } from './lease.js'
import { exhaustedBudget, pickConsumer } from './pick-consumer.js'
import type { SessionResult } from './session-result.js'
import { closeSession, createRun, parseProducerList } from './session-rows.js'

/** Why the session stops early. */
type Stop = { status: 'failed' | 'suspended'; message: string; errorType?: ErrorType } | { status: 'lost' }

/** What each step of a driven session works with: the session, its script version and the lease this worker holds. */
interface Drive {
  ctx: EngineContext
  session: Session
  script: LoadedScript
  lease: LeaseKeeper
}

/**
 * Drives an open session that this worker holds the lease of, to its close, inside a `ledgerflow.session` span
 * (the parent of the runs' spans).
 */
export function driveSession(ctx: EngineContext, session: Session): Promise<SessionResult> {
  const attributes = {
    'ledgerflow.session_id': session.id,
    'ledgerflow.workflow_id': session.workflow_id,
    'ledgerflow.script_id': session.script_id,
    'ledgerflow.trigger': session.trigger,
    'ledgerflow.worker_id': ctx.config.workerId,
  }
  return ctx.tracer.startActiveSpan('ledgerflow.session', { attributes }, async (span) => {
    try {
      const result = await driveSessionUntraced(ctx, session)
      span.setAttribute('ledgerflow.status', result.status)
      if (result.budgetExhausted) span.setAttribute('ledgerflow.budget_exhausted', result.budgetExhausted)
      if (result.reason) span.setAttribute('ledgerflow.reason', result.reason)
      if (result.errorType) span.setAttribute('ledgerflow.error_type', result.errorType)
      if (result.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? 'session failed' })
      return result
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error))
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
      throw error
    } finally {
      span.end()
    }
  })
}

async function driveSessionUntraced(ctx: EngineContext, session: Session): Promise<SessionResult> {
  const lease = new LeaseKeeper(ctx, session)
  lease.start()
  try {
    return await driveSteps(ctx, session, lease)
  } catch (error) {
    rethrowCrash(error)
    return failUnexpectedly(ctx, session, error)
  } finally {
    lease.stop()
  }
}

/**
 * A fault outside any run's own handling (the database, an engine bug) is `internal` (SPEC §8): the session closes
 * failed and the workflow goes to `error`; the run it interrupted pauses, so nothing is left active without an owner,
 * and `retry` continues it. If even that cannot be written, the error propagates and the lease lets recovery finish.
 */
async function failUnexpectedly(ctx: EngineContext, session: Session, error: unknown): Promise<SessionResult> {
  const e = toEngineError(error)
  const message = `internal error: ${e.message}`
  try {
    await ctx.db.transaction(async (tx) => {
      for (const run of await tx.runs.listUnfinished(session.workflow_id)) {
        if (run.status === 'active') await tx.runs.transition(run.id, { status: 'active' }, { status: 'paused', error: message, error_type: 'internal' })
      }
    })
    return await closeSession(ctx, session, { status: 'failed', error: message, errorType: 'internal' })
  } catch {
    throw error
  }
}

async function driveSteps(ctx: EngineContext, session: Session, lease: LeaseKeeper): Promise<SessionResult> {
  let script: LoadedScript
  try {
    script = await ctx.loadScript(session.script_id)
  } catch (error) {
    rethrowCrash(error)
    const e = toEngineError(error)
    return closeSession(ctx, session, { status: 'failed', error: e.message, errorType: e.type })
  }
  const drive: Drive = { ctx, session, script, lease }
  const unfinished = { ran: false }
  const stop = (await finishUnfinished(drive, unfinished)) ?? (await runProducers(drive))
  if (stop) return stopSession(ctx, session, stop)
  // The session's consumer runs so far, when known without a count: none, for a session that had no run when it was
  // opened or taken over (its row says so) and has run no unfinished run since (one may continue as a new run of
  // this session). Producers' runs are not consumer runs.
  const known = session.handler_run_count === 0 && !unfinished.ran ? 0 : undefined
  return consumerLoop(drive, known)
}

function stopSession(ctx: EngineContext, session: Session, stop: Stop): Promise<SessionResult> | SessionResult {
  if (stop.status === 'lost') {
    // Another worker owns the session now; it will close it.
    return { sessionId: session.id, status: 'suspended', reason: 'lease lost to another worker' }
  }
  return closeSession(ctx, session, { status: stop.status, error: stop.message, errorType: stop.errorType })
}

/** What a run's result means for its session. */
function stopFor(result: HandlerResult): Stop | undefined {
  if (result.retriedAs || result.status === 'committed') return undefined
  const message = result.error ?? `run ${result.runId} is ${result.status}`
  switch (result.status) {
    case 'failed':
      return { status: 'failed', message, errorType: result.errorType ?? 'internal' }
    case 'paused':
      return { status: 'suspended', message, errorType: result.errorType }
    case 'waiting': {
      const until = new Date(result.retryAt ?? 0).toISOString()
      const why = result.error ? `: ${result.error}` : ''
      return { status: 'suspended', message: `run ${result.runId} waits for a retry until ${until}${why}`, errorType: result.errorType }
    }
    default:
      return { status: 'suspended', message: `run ${result.runId} was interrupted (${result.status})` }
  }
}

/** Checks that may stop a session between runs (lease, worker stop, operator pause), after a turn of the event loop. */
async function between(ctx: EngineContext, session: Session, lease: LeaseKeeper): Promise<Stop | undefined> {
  await turnEventLoop()
  return checks(ctx, session, lease)
}

/**
 * Lets the event loop turn: with evaluations on this thread a session is one long chain of promise callbacks, which
 * would otherwise starve timers (tool timeouts), signal handlers (a graceful stop) and deferred sandbox clean-up.
 */
function turnEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve))
}

/** The checks of {@link between}, without the turn of the event loop. */
async function checks(ctx: EngineContext, session: Session, lease: LeaseKeeper): Promise<Stop | undefined> {
  return (await leaseStop(ctx, lease)) ?? workflowStop((await ctx.db.workflows.get(session.workflow_id))?.status)
}

/** The session stops when its lease is lost or its worker is stopping. */
async function leaseStop(ctx: EngineContext, lease: LeaseKeeper): Promise<Stop | undefined> {
  if (!(await lease.check())) return { status: 'lost' }
  if (ctx.stopSignal.aborted) return { status: 'suspended', message: 'worker stopping' }
  return undefined
}

/** Pure; the session suspends unless its workflow is active (`undefined`: deleted). */
function workflowStop(status: WorkflowStatus | undefined): Stop | undefined {
  return status === 'active' ? undefined : { status: 'suspended', message: `workflow is ${status ?? 'deleted'}` }
}

/** Step 2: the workflow's unfinished runs, oldest first, honouring their outcome (SPEC §7.2). */
async function finishUnfinished(drive: Drive, unfinished = { ran: false }): Promise<Stop | undefined> {
  const { ctx, session, lease } = drive
  for (let guard = 0; guard < 1000; guard++) {
    let [run] = await ctx.db.runs.listUnfinished(session.workflow_id)
    if (!run && (await createContinuation(ctx, session))) [run] = await ctx.db.runs.listUnfinished(session.workflow_id)
    if (!run) return undefined
    const stop = await between(ctx, session, lease)
    if (stop) return stop
    if (run.status === 'paused') return { status: 'suspended', message: run.error ?? `run ${run.id} is paused`, errorType: run.error_type ?? undefined }
    unfinished.ran = true
    const result = await executeHandler(ctx, run.id)
    const outcome = stopFor(result)
    if (outcome) return outcome
  }
  return { status: 'failed', message: 'too many unfinished runs in a row', errorType: 'internal' }
}

/**
 * A `retry` session first continues runs that failed after their mutation (reservations kept): each gets a new run
 * that starts at `next`, on the current script version, and sees the original mutation result. One at a time, since
 * a workflow has at most one unfinished run. Returns whether it created one.
 */
async function createContinuation(ctx: EngineContext, session: Session): Promise<boolean> {
  if (session.trigger !== 'retry') return false
  const rows = await ctx.db.kysely
    .selectFrom('events')
    .innerJoin('handler_runs', 'handler_runs.id', 'events.reserved_by_run_id')
    .select('handler_runs.id')
    .distinct()
    .where('events.workflow_id', '=', session.workflow_id)
    .where('events.status', '=', 'reserved')
    .where('handler_runs.status', '=', 'failed')
    .execute()
  for (const { id } of rows) {
    const failed = await ctx.db.runs.get(id)
    if (!failed || (await ctx.db.runs.findRetryOf(id))) continue
    await createRun(ctx, session, {
      handlerType: failed.handler_type,
      handlerName: failed.handler_name,
      phase: 'mutated',
      retryOf: failed,
    })
    return true
  }
  return false
}

/** Step 3: the session's producers in declared order; the first that does not commit stops the session. */
async function runProducers({ ctx, session, script, lease }: Drive): Promise<Stop | undefined> {
  const planned = new Set(parseProducerList(session))
  if (planned.size === 0) return undefined
  const done = new Set((await ctx.db.runs.listBySession(session.id)).filter((r) => r.handler_type === 'producer').map((r) => r.handler_name))
  for (const producer of script.config.producers) {
    if (!planned.has(producer.name) || done.has(producer.name)) continue
    const stop = await between(ctx, session, lease)
    if (stop) return stop
    const { run, workflow } = await createRun(ctx, session, { handlerType: 'producer', handlerName: producer.name, phase: 'executing' })
    const outcome = stopFor(await executeHandler(ctx, run.id, run, workflow ? { known: { workflow } } : {}))
    if (outcome) return outcome
  }
  return undefined
}

/**
 * The id of the consumer run about to be created, the handler's state from the session's pick view for its first
 * turn and, with `EngineConfig.headStart` on SQLite, its `prepare` started now, so that the sandbox evaluates it
 * while the run's row commits (the commit's fsync blocks this thread).
 * A state whose stored JSON does not parse is left for the run's first turn to read and report; nothing is started
 * ahead then.
 */
function startRun({ ctx, session, script }: Drive, consumer: string, view: PickView): { id: string; options: ExecuteOptions } {
  const id = ctx.ids('run')
  const ref = { id, workflow_id: session.workflow_id, handler_type: 'consumer' as const, handler_name: consumer, attempt: 1 }
  let state: { value: JsonValue }
  try {
    state = { value: parseState(ref, view.states.get(consumer) ?? null) }
  } catch {
    return { id, options: {} }
  }
  const known = { state }
  // On PostgreSQL, prepare stays in its turn: started ahead there it measured slower (8 interleaved pairs one at a
  // time, median −5 %), as it did before the state came with the pick view.
  if (!ctx.config.headStart || ctx.db.dialect !== 'sqlite') return { id, options: { known } }
  // The run's span first, so that the phase's span nests in it as it does for a phase evaluated in its turn.
  const span = ctx.tracer.startSpan('ledgerflow.run')
  const ahead = context.with(trace.setSpan(context.active(), span), () => startPrepareAhead({ ctx, run: ref, script }, state.value))
  return { id, options: ahead ? { known, prepareAhead: ahead, span } : { known, span } }
}

/** Step 4: consumers while work exists and the budget lasts; step 5: close. */
async function consumerLoop(drive: Drive, known?: number): Promise<SessionResult> {
  const { ctx, session, script, lease } = drive
  const consumers = script.config.consumers
  const topics = [...new Set(consumers.flatMap((c) => c.subscribe))]
  const handlers = consumers.map((c) => c.name)
  // The session's consumer runs so far: counted once, then kept here (this loop creates them one at a time), and
  // counted again after a run that continued as a new run (a retry adds one the loop did not create).
  let consumerRuns: number | undefined = known
  // What the next pick reads; a consumer run's commit reads it in its own statement on PostgreSQL.
  const nextPick = { workflowId: session.workflow_id, topics, handlers }
  // The view the last run's commit read (see `RunStore.commitSeeing`), for this iteration instead of a read.
  let seen: PickView | undefined
  for (;;) {
    await turnEventLoop()
    // The workflow's status and what the next pick needs, in one statement read while the lease is checked (or, on
    // PostgreSQL after a run that committed, as its commit read them: a write committed since then, like an
    // operator's pause, is seen by the next run's insert and first checkpoint, as one committed just after this
    // read would be; an event published since then wakes the worker again when this session ends).
    const view = seen ? Promise.resolve(seen) : ctx.db.workflows.pickView(session.workflow_id, topics, handlers)
    // The events that commit read ahead for this run's first `Topics.peek` (see `PeekAhead`).
    const peeks = new PeekAhead(seen?.pending)
    seen = undefined
    view.catch(() => {}) // awaited below; a failure only matters if the lease holds
    const stop = (await leaseStop(ctx, lease)) ?? workflowStop((await view).status)
    if (stop) return stopSession(ctx, session, stop)
    const now = ctx.clock.now()
    const picked = await view
    const { bounds, wakeups } = picked // already settled: the status check above awaited it
    const next = pickConsumer(consumers, new Map(bounds.map((b) => [b.topic, b])), new Map(wakeups.map((w) => [w.consumerName, w])), now)
    if (!next) return closeSession(ctx, session, { status: 'completed' })
    consumerRuns ??= await ctx.db.runs.countConsumerRuns(session.id)
    const exhausted = await usedUpBudget(drive, consumerRuns, now)
    if (exhausted) return closeSession(ctx, session, { status: 'completed', budgetExhausted: exhausted })
    const { run, options } = await createConsumerRun(drive, next, picked)
    consumerRuns++
    const result = await executeHandler(ctx, run.id, run, { ...options, nextPick, peeks })
    seen = result.retriedAs ? undefined : result.nextView
    if (result.retriedAs) consumerRuns = undefined
    let outcome = stopFor(result)
    if (!outcome && result.retriedAs) outcome = await finishUnfinished(drive)
    if (outcome) return stopSession(ctx, session, outcome)
  }
}

/** The session's budget that is used up by `consumerRuns` at `now`, if any; its cost is read only when it is capped. */
async function usedUpBudget({ ctx, session }: Drive, consumerRuns: number, now: number): Promise<'iterations' | 'cost' | 'time' | undefined> {
  const budget = {
    maxIterations: session.max_iterations,
    maxCostMicrodollars: session.max_cost_microdollars,
    maxDurationMs: session.max_duration_ms,
  }
  return exhaustedBudget(budget, {
    consumerRuns,
    costMicrodollars: budget.maxCostMicrodollars === null ? 0 : await ctx.db.sessions.cost(session.id),
    elapsedMs: now - session.start_timestamp,
  })
}

/** Creates the picked consumer's run (see {@link startRun}); what was started for it ends if the insert fails. */
async function createConsumerRun(drive: Drive, consumer: string, view: PickView): Promise<{ run: HandlerRun; options: ExecuteOptions }> {
  const { ctx, session } = drive
  const { id, options } = startRun(drive, consumer, view)
  // CRASH WINDOW: prepare may already be evaluating, but the run does not exist yet and every tool call but the
  // topic reads waits at its gate: a crash here leaves nothing behind, and the session's next pick starts over.
  try {
    const created = await createRun(ctx, session, { handlerType: 'consumer', handlerName: consumer, phase: 'preparing', id })
    if (created.workflow) options.known = { ...options.known, workflow: created.workflow }
    return { run: created.run, options }
  } catch (error) {
    options.prepareAhead?.abandon()
    options.span?.end()
    throw error
  }
}
