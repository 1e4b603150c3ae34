/**
 * `executeHandler(runId)`: the one code path for a fresh run and a run resumed after a crash. It reads the run,
 * asks the pure state machine (`transitions.ts`) what comes next, performs it (an evaluation, a reconciliation;
 * see `phase-turns.ts`), and checkpoints the decision in one transaction (`decide.ts`); repeat until the run
 * commits or stops.
 */
import type { ErrorType, HandlerRun, PickView, RunPhase, RunStatus } from '@ledgerflow/db'
import { type Span, SpanStatusCode, context, trace } from '@opentelemetry/api'
import type { EngineContext, LoadedScript } from '../context.js'
import { NotFoundError } from '../errors.js'
import { rethrowCrash } from '../faults.js'
import type { NextPick } from './checkpoint.js'
import { type Known, type Turn, decide, keepRunOptions } from './decide.js'
import type { HeadStart } from './head-start.js'
import type { PeekAhead } from './peek-ahead.js'
import { type TurnInput, ledgerTurn, mutateTurn, mutationResultOf, nextTurn, prepareTurn, producerTurn } from './phase-turns.js'
import { type HandlerInfo, asFailure, handlerInfo, loadState, policy, safePrepared, settled, view } from './run-inputs.js'
import { failure, nextStep } from './transitions.js'

/** Where a run stands after `executeHandler`. */
export interface HandlerResult {
  runId: string
  phase: RunPhase
  status: RunStatus
  error?: string
  errorType?: ErrorType
  /** For a `waiting` run: when it may continue. */
  retryAt?: number
  /** The run ended and continues as this new run (a mutation retried in a new run). */
  retriedAs?: string
  /**
   * With {@link ExecuteOptions.nextPick}, when the run committed in one statement (PostgreSQL): the session's next
   * pick view, read in that statement. @internal
   */
  nextView?: PickView
}

/** What the session loop hands a run it just created to its first turn. @internal */
export interface ExecuteOptions {
  /**
   * What the first turn takes instead of reading it: the handler's state as the session read it just before it
   * created the run (its pick view; it was read in the session that owns the workflow, and only a commit of this
   * consumer's runs writes it), and the workflow's status and event sequence when the run's insert read them in its
   * statement (PostgreSQL). An operator's pause committed after that statement is seen at the next checkpoint,
   * before any mutation; on SQLite the turn reads the workflow, after the insert's commit.
   */
  known?: Known
  /**
   * `prepare`, started while the run's row was written (see `startPrepareAhead`) with `known.state`. The first
   * turn takes it if the run is still where it was created.
   */
  prepareAhead?: HeadStart
  /**
   * The run's `ledgerflow.run` span, started by the creator before the prepare it started ahead (so that the phase's
   * span nests in it); this executor sets its attributes and ends it. Default: a new span.
   */
  span?: Span
  /**
   * The session loop's next pick, for the run's commit checkpoint to read in its statement (see
   * `RunStore.commitSeeing`); the view comes back in {@link HandlerResult.nextView}.
   */
  nextPick?: NextPick
  /**
   * Events the session read ahead for this run's first `Topics.peek`, and where the run records what it peeked, so
   * that its commit reads ahead for the next run (see `PeekAhead`).
   */
  peeks?: PeekAhead
}

/**
 * Runs (or resumes) one handler run until it commits or stops. Throws only for programmer errors (unknown run)
 * and faults of the database itself; everything a script or tool does becomes the run's outcome.
 *
 * ### Examples
 * ```ts
 * const result = await executeHandler(ctx, runId)
 * // or, for a run just created: executeHandler(ctx, run.id, run)
 * if (result.status === 'waiting') console.log('retry at', new Date(result.retryAt!))
 * ```
 */
export async function executeHandler(ctx: EngineContext, runId: string, written?: HandlerRun, options: ExecuteOptions = {}): Promise<HandlerResult> {
  // `written`: the run as its creator just wrote it, which saves reading it back. Had anyone moved it since, the first
  // checkpoint's compare-and-set would not apply and this executor would stop without writing.
  const run = written?.id === runId ? { ...written } : await ctx.db.runs.get(runId)
  if (!run) throw new NotFoundError('run', runId)
  keepRunOptions(run, options)
  const body = async (span: Span): Promise<HandlerResult> => {
    span.setAttributes({
      'ledgerflow.run_id': run.id,
      'ledgerflow.handler': `${run.handler_type}:${run.handler_name}`,
      'ledgerflow.workflow_id': run.workflow_id,
      'ledgerflow.session_id': run.script_run_id,
      'ledgerflow.attempt': run.attempt,
    })
    // The evaluation the next turn will most likely start, started while this turn's checkpoint commits.
    let ahead: HeadStart | undefined = options.prepareAhead
    // What the session read for the first turn; later, the workflow's status as the last checkpoint saw it.
    let known: Known = options.known ?? {}
    try {
      let retriedAs: string | undefined
      let nextView: PickView | undefined
      // Each turn makes one checkpoint; a run needs at most a handful. The bound guards against a logic bug.
      for (let turn = 0; turn < 64; turn++) {
        const outcome = await turnOnce(ctx, run, { ahead, known })
        known = outcome.workflow ? { workflow: outcome.workflow } : {}
        ahead = outcome.ahead
        if (outcome.retriedAs) retriedAs = outcome.retriedAs
        if (outcome.view) nextView = outcome.view
        if (outcome.stop) break
      }
      const result = toResult(run, retriedAs)
      if (nextView && result.status === 'committed') result.nextView = nextView
      span.setAttributes({ 'ledgerflow.phase': result.phase, 'ledgerflow.status': result.status })
      if (result.errorType) span.setAttribute('ledgerflow.error_type', result.errorType)
      if (result.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? 'run failed' })
      return result
    } finally {
      ahead?.abandon()
      span.end()
    }
  }
  const span = options.span
  return span ? context.with(trace.setSpan(context.active(), span), () => body(span)) : ctx.tracer.startActiveSpan('ledgerflow.run', body)
}

function toResult(run: HandlerRun, retriedAs?: string): HandlerResult {
  return {
    runId: run.id,
    phase: run.phase,
    status: run.status,
    ...(run.error !== null && run.status !== 'committed' ? { error: run.error } : {}),
    ...(run.error_type !== null && run.status !== 'committed' ? { errorType: run.error_type } : {}),
    ...(run.status === 'waiting' && run.retry_at !== null ? { retryAt: run.retry_at } : {}),
    ...(retriedAs ? { retriedAs } : {}),
  }
}

/** What a turn starts from besides the run: what the previous turn left it. */
interface TurnStart {
  /** The evaluation the previous turn (or the run's creator) started ahead for this one, if any. */
  ahead: HeadStart | undefined
  /** What the turn knows without reading (see {@link Known}). */
  known: Known
}

/** One turn; a head start it does not take is abandoned. */
async function turnOnce(ctx: EngineContext, run: HandlerRun, start: TurnStart): Promise<Turn> {
  try {
    return await turn(ctx, run, start)
  } finally {
    start.ahead?.abandon()
  }
}

async function turn(ctx: EngineContext, run: HandlerRun, { ahead, known }: TurnStart): Promise<Turn> {
  let script: LoadedScript
  let info: HandlerInfo
  try {
    script = await ctx.loadScript(run.script_id)
    info = handlerInfo(script, run)
  } catch (error) {
    rethrowCrash(error)
    if (run.status !== 'active' && run.status !== 'waiting') return { stop: true }
    return decide(ctx, { run, decision: failure(view(run), asFailure(error), 'before', run.phase, policy(ctx)) })
  }
  const input: TurnInput = { ctx, run, script, info }
  const prepared = run.handler_type === 'consumer' && run.prepare_result !== null ? safePrepared(run) : undefined
  const reservations = prepared?.ok ? prepared.value.reservations.reduce((n, r) => n + r.ids.length, 0) : 0
  const step = nextStep(view(run), ctx.clock.now(), { reservations, hasMutate: info.hasMutate })
  switch (step.kind) {
    case 'done':
    case 'not-due':
      return { stop: true }
    case 'activate':
      return decide(ctx, { run, decision: { patch: { status: 'active', retryAt: null }, effects: [] } })
    case 'start':
      return decide(ctx, { run, decision: { patch: { phase: step.phase }, effects: [] } })
    case 'ledger':
      return ledgerTurn(input, prepared)
    case 'evaluate': {
      // The handler's state (unless the session's pick view brought it), read while the workflow is: only producer
      // and prepare take it, and only if the workflow turns out active.
      const state =
        step.phase === 'prepare' && known.state !== undefined
          ? Promise.resolve({ ok: true as const, value: known.state.value })
          : step.phase === 'producer' || step.phase === 'prepare'
            ? settled(loadState(ctx, run))
            : undefined
      // An operator's pause (or archive) stops the run at this checkpoint; resume continues it from here.
      const { status, eventSequence } = await workflowAt(input, step.phase, known.workflow)
      if (status !== 'active') {
        const why = status ? `workflow is ${status}` : 'workflow was deleted'
        const turn = await decide(ctx, { run, decision: { patch: { status: 'paused', error: why, errorType: null }, effects: [] } })
        return { ...turn, stop: true }
      }
      if (prepared && !prepared.ok) return decide(ctx, { run, decision: failure(view(run), prepared.error, 'after', run.phase, policy(ctx)) })
      switch (step.phase) {
        case 'producer':
          return producerTurn(input, state!)
        case 'prepare':
          return prepareTurn({ ...input, ahead }, eventSequence!, state!)
        case 'mutate':
          return mutateTurn({ ...input, ahead }, prepared!.ok ? prepared!.value : undefined)
        case 'next':
          return nextTurn({ ...input, ahead }, { prepared: prepared?.ok ? prepared.value : undefined, mutation: await mutationResultOf(ctx, run) }, [])
      }
    }
  }
}

/**
 * The workflow's status for a turn's pause check (and, for producer and prepare, its event sequence): what the run's
 * insert or the previous checkpoint saw, when it read it in its statement; else the workflow is read now.
 */
async function workflowAt({ ctx, run }: TurnInput, phase: 'producer' | 'prepare' | 'mutate' | 'next', seen: Known['workflow']) {
  if (seen && (seen.eventSequence !== undefined || phase === 'mutate' || phase === 'next')) return seen
  const workflow = await ctx.db.workflows.get(run.workflow_id)
  return { status: workflow?.status, eventSequence: workflow?.event_sequence }
}

