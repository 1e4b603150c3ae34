/**
 * `executeHandler(runId)`: the one code path for a fresh run and a run resumed after a crash. It reads the run,
 * asks the pure state machine (`transitions.ts`) what comes next, performs it (an evaluation, a reconciliation),
 * and checkpoints the decision in one transaction; repeat until the run commits or stops.
 */
import type { ErrorType, HandlerRun, PickView, RunPhase, RunStatus, WorkflowStatus } from '@ledgerflow/db'
import { readJsonColumn } from '@ledgerflow/db'
import { type JsonValue, resolveLimits } from '@ledgerflow/sandbox'
import { type Span, SpanStatusCode, context, trace } from '@opentelemetry/api'
import type { EngineContext, LoadedScript } from '../context.js'
import { LogicError, NotFoundError, toEngineError } from '../errors.js'
import { rethrowCrash } from '../faults.js'
import { type PrepareResult, formatIssues, prepareResultSchema } from '../schemas.js'
import type { HandlerAccess } from '../tools/phase-gate.js'
import { type NextPick, checkpoint } from './checkpoint.js'
import { type PhaseEvaluation, evaluatePhase } from './evaluate.js'
import { HeadStart, type HeadStartKey } from './head-start.js'
import type { PeekAhead } from './peek-ahead.js'
import { ledgerView, observeReconcile, performMutation, takeApplying, takeWrittenLedger } from './mutation.js'
import { PhaseBuffer } from './phase-buffer.js'
import {
  type Decision,
  type EvalResult,
  type FailureInfo,
  type MutationResult,
  type PolicyContext,
  type RunView,
  type StateOutcome,
  failure,
  ledgerOutcome,
  mutateOutcome,
  nextOutcome,
  nextStep,
  prepareOutcome,
  producerOutcome,
  reconcileOutcome,
} from './transitions.js'

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
   * `prepare`, started while the run's row was written (see {@link startPrepareAhead}) with `known.state`. The first
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
 * The next pick of each run being executed with one (see {@link ExecuteOptions.nextPick}), for {@link decide}: keyed
 * by the executor's own copy of the run, which every turn and checkpoint of this execution share.
 */
const nextPicks = new WeakMap<HandlerRun, NextPick>()
/** The {@link ExecuteOptions.peeks} of each run being executed with them, keyed as {@link nextPicks}. */
const runPeeks = new WeakMap<HandlerRun, PeekAhead>()

/** A handler's config as the run needs it. */
interface HandlerInfo {
  access: HandlerAccess
  hasMutate: boolean
  hasNext: boolean
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
  if (options.nextPick) nextPicks.set(run, options.nextPick)
  if (options.peeks) runPeeks.set(run, options.peeks)
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
        const outcome = await turnOnce(ctx, run, ahead, known)
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

function view(run: HandlerRun): RunView {
  return {
    handlerType: run.handler_type,
    handlerName: run.handler_name,
    phase: run.phase,
    status: run.status,
    attempt: run.attempt,
    retryAt: run.retry_at,
  }
}

function policy(ctx: EngineContext): PolicyContext {
  return { now: ctx.clock.now(), retry: ctx.config.retry, random: ctx.random() }
}

interface Turn {
  stop: boolean
  retriedAs?: string
  /** An evaluation started ahead for the next turn (see `HeadStart`); the next turn takes it or abandons it. */
  ahead?: HeadStart
  /** The workflow's status as this turn's checkpoint saw it, if it read it: the next turn's pause check. */
  workflow?: { status: WorkflowStatus | undefined }
  /** The session's next pick view, when this turn's checkpoint committed the run and read it. */
  view?: PickView
}

/**
 * What a turn knows without reading: the state its prepare takes, and the workflow's status its pause check takes
 * (with the event sequence, which a producer or prepare needs too). @internal
 */
export interface Known {
  state?: { value: JsonValue }
  workflow?: { status: WorkflowStatus | undefined; eventSequence?: number }
}

/** Applies a decision; a run moved by someone else stops this executor without writing. */
async function decide(ctx: EngineContext, run: HandlerRun, decision: Decision, buffers: PhaseBuffer[] = [], ledger?: Parameters<typeof checkpoint>[1]['ledger']): Promise<Turn> {
  const pick = nextPicks.get(run)
  const peek = runPeeks.get(run)?.readAhead
  const nextPick = pick && peek ? { ...pick, peek } : pick
  const result = await checkpoint(ctx, { run, decision, buffers, ledger, ...(nextPick ? { nextPick } : {}) })
  if (!result.applied) return { stop: true }
  return { stop: false, retriedAs: result.retriedAs, ...(result.workflow ? { workflow: result.workflow } : {}), ...(result.view ? { view: result.view } : {}) }
}

/** One turn; a head start it does not take is abandoned. */
async function turnOnce(ctx: EngineContext, run: HandlerRun, ahead: HeadStart | undefined, known: Known): Promise<Turn> {
  try {
    return await turn(ctx, run, ahead, known)
  } finally {
    ahead?.abandon()
  }
}

async function turn(ctx: EngineContext, run: HandlerRun, ahead: HeadStart | undefined, known: Known): Promise<Turn> {
  let script: LoadedScript
  let info: HandlerInfo
  try {
    script = await ctx.loadScript(run.script_id)
    info = handlerInfo(script, run)
  } catch (error) {
    rethrowCrash(error)
    if (run.status !== 'active' && run.status !== 'waiting') return { stop: true }
    return decide(ctx, run, failure(view(run), asFailure(error), 'before', run.phase, policy(ctx)))
  }
  const prepared = run.handler_type === 'consumer' && run.prepare_result !== null ? safePrepared(run) : undefined
  const reservations = prepared?.ok ? prepared.value.reservations.reduce((n, r) => n + r.ids.length, 0) : 0
  const step = nextStep(view(run), ctx.clock.now(), { reservations, hasMutate: info.hasMutate })
  switch (step.kind) {
    case 'done':
    case 'not-due':
      return { stop: true }
    case 'activate':
      return decide(ctx, run, { patch: { status: 'active', retryAt: null }, effects: [] })
    case 'start':
      return decide(ctx, run, { patch: { phase: step.phase }, effects: [] })
    case 'ledger':
      return ledgerTurn(ctx, run, script, info, prepared)
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
      const { status, eventSequence } = await workflowAt(ctx, run, step.phase, known.workflow)
      if (status !== 'active') {
        const why = status ? `workflow is ${status}` : 'workflow was deleted'
        const turn = await decide(ctx, run, { patch: { status: 'paused', error: why, errorType: null }, effects: [] })
        return { ...turn, stop: true }
      }
      if (prepared && !prepared.ok) return decide(ctx, run, failure(view(run), prepared.error, 'after', run.phase, policy(ctx)))
      switch (step.phase) {
        case 'producer':
          return producerTurn(ctx, run, script, info, state!)
        case 'prepare':
          return prepareTurn(ctx, run, script, info, eventSequence!, state!, ahead)
        case 'mutate':
          return mutateTurn(ctx, run, script, info, prepared!.ok ? prepared!.value : undefined, ahead)
        case 'next':
          return nextTurn(ctx, run, script, info, prepared?.ok ? prepared.value : undefined, await mutationResultOf(ctx, run), [], ahead)
      }
    }
  }
}

/**
 * The workflow's status for a turn's pause check (and, for producer and prepare, its event sequence): what the run's
 * insert or the previous checkpoint saw, when it read it in its statement; else the workflow is read now.
 */
async function workflowAt(ctx: EngineContext, run: HandlerRun, phase: 'producer' | 'prepare' | 'mutate' | 'next', seen: Known['workflow']) {
  if (seen && (seen.eventSequence !== undefined || phase === 'mutate' || phase === 'next')) return seen
  const workflow = await ctx.db.workflows.get(run.workflow_id)
  return { status: workflow?.status, eventSequence: workflow?.event_sequence }
}

function handlerInfo(script: LoadedScript, run: Pick<HandlerRun, 'handler_type' | 'handler_name'>): HandlerInfo {
  if (run.handler_type === 'producer') {
    const p = script.config.producers.find((x) => x.name === run.handler_name)
    if (!p) throw new LogicError(`Producer '${run.handler_name}' does not exist in script version ${script.version}`, { code: 'handler_not_found' })
    return { access: { handler: p.name, subscribe: [], publishes: p.publishes }, hasMutate: false, hasNext: false }
  }
  const c = script.config.consumers.find((x) => x.name === run.handler_name)
  if (!c) throw new LogicError(`Consumer '${run.handler_name}' does not exist in script version ${script.version}`, { code: 'handler_not_found' })
  return { access: { handler: c.name, subscribe: c.subscribe, publishes: c.publishes }, hasMutate: c.hasMutate, hasNext: c.hasNext }
}

function asFailure(error: unknown): FailureInfo {
  const e = toEngineError(error)
  return { message: e.message, type: e.type }
}

function safePrepared(run: HandlerRun): { ok: true; value: PrepareResult } | { ok: false; error: FailureInfo } {
  return parsePrepared(run.id, run.prepare_result)
}

/** A run's `prepare_result` column, read back as the later phases see it. */
function parsePrepared(runId: string, text: string | null): { ok: true; value: PrepareResult } | { ok: false; error: FailureInfo } {
  try {
    const json = readJsonColumn(text, { table: 'handler_runs', column: 'prepare_result', rowId: runId })
    const parsed = prepareResultSchema.safeParse(json)
    if (parsed.success) return { ok: true, value: parsed.data }
    return { ok: false, error: { message: `Corrupt prepare_result of run ${runId}: ${formatIssues(parsed.error)}`, type: 'internal' } }
  } catch (error) {
    return { ok: false, error: asFailure(error) }
  }
}

/** A promise's outcome as a value: a read started early whose failure only matters if someone takes it. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/** The handler's state as its phases take it (`null` when it has none). */
export async function loadState(ctx: EngineContext, run: Pick<HandlerRun, 'workflow_id' | 'handler_name'>): Promise<JsonValue> {
  const row = await ctx.db.handlerState.get(run.workflow_id, run.handler_name)
  return parseState(run, row?.state ?? null)
}

/** A handler's stored state (`handler_state.state`, `null` when it has none) as its phases take it; throws if corrupt. */
export function parseState(run: Pick<HandlerRun, 'workflow_id' | 'handler_name'>, text: string | null): JsonValue {
  if (text === null) return null
  return readJsonColumn(text, { table: 'handler_state', column: 'state', rowId: `${run.workflow_id}/${run.handler_name}` }) as JsonValue
}

function stateOf(ctx: EngineContext, run: HandlerRun, result: EvalResult): StateOutcome {
  if (!result.ok || result.value === undefined) return { ok: true, json: undefined }
  const json = JSON.stringify(result.value)
  if (Buffer.byteLength(json) > ctx.config.maxStateBytes) {
    return {
      ok: false,
      error: { message: `'${run.handler_name}' returned a state of ${Buffer.byteLength(json)} bytes; the limit is ${ctx.config.maxStateBytes}`, type: 'logic' },
    }
  }
  return { ok: true, json }
}

async function producerTurn(ctx: EngineContext, run: HandlerRun, script: LoadedScript, info: HandlerInfo, loaded: Promise<Settled<JsonValue>>): Promise<Turn> {
  const buffer = new PhaseBuffer('executing', () => ctx.clock.now())
  const read = await loaded
  if (!read.ok) {
    rethrowCrash(read.error)
    return decide(ctx, run, failure(view(run), asFailure(read.error), 'before', 'executing', policy(ctx)), [buffer])
  }
  const state = read.value
  const result = await evaluatePhase(ctx, { run: runRef(run), script, phase: 'producer', args: [state], access: info.access, buffer })
  const decision = producerOutcome(view(run), result, stateOf(ctx, run, result), policy(ctx))
  decision.patch.inputState = JSON.stringify(state)
  return decide(ctx, run, decision, [buffer])
}

function runRef(run: Pick<HandlerRun, 'id' | 'workflow_id' | 'handler_type' | 'handler_name'>) {
  return { id: run.id, workflowId: run.workflow_id, handlerType: run.handler_type, handlerName: run.handler_name }
}

async function prepareTurn(
  ctx: EngineContext,
  run: HandlerRun,
  script: LoadedScript,
  info: HandlerInfo,
  observedSequence: number,
  loaded: Promise<Settled<JsonValue>>,
  startedAhead: HeadStart | undefined,
): Promise<Turn> {
  const read = await loaded
  if (!read.ok) {
    rethrowCrash(read.error)
    return decide(ctx, run, failure(view(run), asFailure(read.error), 'before', 'preparing', policy(ctx)), [new PhaseBuffer('preparing', () => ctx.clock.now())])
  }
  const state = read.value
  const { started, result } = await evaluateInTurn(ctx, run, startedAhead, prepareEvaluation(ctx, run, script, info, state, runPeeks.get(run)))
  const buffer = started.buffer
  const decision = prepareOutcome(view(run), result, info.access, observedSequence, policy(ctx))
  decision.patch.inputState = JSON.stringify(state)
  const ahead = aheadOfPrepared(ctx, run, script, info, decision)
  try {
    const turn = await decide(ctx, run, decision, [buffer])
    return ahead ? { ...turn, ahead } : turn
  } catch (error) {
    ahead?.abandon()
    rethrowCrash(error)
    const e = toEngineError(error)
    if (e.type !== 'logic') throw error
    // The reservation was refused (unknown, foreign or already reserved ids): nothing was reserved.
    const message = `Consumer '${run.handler_name}' prepare: ${e.message}`
    buffer.log('error', message)
    return decide(ctx, run, failure(view(run), { message, type: 'logic' }, 'before', 'preparing', policy(ctx)), [buffer])
  }
}

/** `prepare`'s evaluation with `state`. */
function prepareEvaluation(
  ctx: EngineContext,
  run: Pick<HandlerRun, 'id' | 'workflow_id' | 'handler_type' | 'handler_name'>,
  script: LoadedScript,
  info: HandlerInfo,
  state: JsonValue,
  peeks?: PeekAhead,
): PhaseEvaluation {
  const buffer = new PhaseBuffer('preparing', () => ctx.clock.now())
  return { run: runRef(run), script, phase: 'prepare', args: [state], access: info.access, buffer, ...(peeks ? { peeks } : {}) }
}

/**
 * Starts the `prepare` of a consumer run that is about to be created, so that the sandbox evaluates it while the
 * run's row is written (with `EngineConfig.headStart`; otherwise, or for a handler the script does not have,
 * `undefined`). `run` is the row as it will be (id, workflow, handler, attempt 1); `state` the handler's state, read
 * just before. Its reads of the workflow's events run at once, every other host call waits for its turn (see
 * `HeadStart`). The creator passes it to {@link executeHandler} (`prepareAhead`), or abandons it if the row was not
 * written.
 */
export function startPrepareAhead(
  ctx: EngineContext,
  run: Pick<HandlerRun, 'id' | 'workflow_id' | 'handler_type' | 'handler_name' | 'attempt'>,
  script: LoadedScript,
  state: JsonValue,
): HeadStart | undefined {
  if (!ctx.config.headStart || run.handler_type !== 'consumer') return undefined
  let info: HandlerInfo
  try {
    info = handlerInfo(script, run)
  } catch {
    return undefined // the run's first turn reports it
  }
  const evaluation = { ...prepareEvaluation(ctx, run, script, info, state), readsAhead: true }
  return HeadStart.start(ctx, evaluation, keyOf(run, run.attempt, evaluation))
}

/**
 * The evaluation that follows a prepare decision, started ahead: when the decision moves the run to `prepared`, the
 * next turn evaluates `mutate` (events reserved, a mutate declared) or `next`, with arguments known now.
 */
function aheadOfPrepared(ctx: EngineContext, run: HandlerRun, script: LoadedScript, info: HandlerInfo, decision: Decision): HeadStart | undefined {
  const { patch } = decision
  if (patch.phase !== 'prepared' || patch.status !== undefined || patch.prepareResult === undefined || !ctx.config.headStart) return undefined
  const prepared = parsePrepared(run.id, patch.prepareResult)
  if (!prepared.ok) return undefined
  const reservations = prepared.value.reservations.reduce((n, r) => n + r.ids.length, 0)
  // The attempt the run will have once the checkpoint applies (the key of the next turn).
  const attempt = patch.attempt ?? run.attempt
  const ahead = (evaluation: PhaseEvaluation) => HeadStart.start(ctx, evaluation, keyOf(run, attempt, evaluation))
  if (reservations > 0 && info.hasMutate) {
    const mutate = ahead(mutateEvaluation(ctx, run, script, info, prepared.value))
    // A mutate that called no tool is followed by `next` with no mutation (`mutateOutcome`): start that one too.
    if (info.hasNext) {
      mutate.chain((result) =>
        result.ok && !mutate.mutationAttempted ? ahead(nextEvaluation(ctx, run, script, info, prepared.value, { status: 'none' })) : undefined,
      )
    }
    return mutate
  }
  if (info.hasNext) return ahead(nextEvaluation(ctx, run, script, info, prepared.value, { status: 'none' }))
  return undefined
}

/**
 * `next`, started ahead while the `applied` write of `mutate`'s mutation commits, with the mutation result the row
 * will hold. The turn takes it once the row is committed `applied` (the run then at `mutated`, attempt 1); any other
 * outcome abandons it.
 */
function aheadOfApplied(
  ctx: EngineContext,
  run: HandlerRun,
  script: LoadedScript,
  info: HandlerInfo,
  prepared: PrepareResult | undefined,
  resultJson: string | null,
): HeadStart | undefined {
  if (!info.hasNext || !ctx.config.headStart) return undefined
  let result: JsonValue
  try {
    result = resultJson === null ? null : (JSON.parse(resultJson) as JsonValue)
  } catch {
    return undefined
  }
  const evaluation = nextEvaluation(ctx, run, script, info, prepared, { status: 'applied', result })
  return HeadStart.start(ctx, evaluation, keyOf(run, 1, evaluation))
}

function keyOf(run: Pick<HandlerRun, 'id'>, attempt: number, e: PhaseEvaluation): HeadStartKey {
  return { runId: run.id, attempt, phase: e.phase, args: JSON.stringify(e.args) }
}

/**
 * `mutate`'s evaluation. Its one mutation call goes through the ledger with `run` as it is when the call is made:
 * `run` is the executor's own object, which each applied checkpoint updates in place.
 */
function mutateEvaluation(
  ctx: EngineContext,
  run: HandlerRun,
  script: LoadedScript,
  info: HandlerInfo,
  prepared: PrepareResult | undefined,
): PhaseEvaluation {
  const buffer = new PhaseBuffer('mutating', () => ctx.clock.now())
  const uiTitle = typeof prepared?.ui?.title === 'string' ? prepared.ui.title : null
  const evaluation: PhaseEvaluation = {
    run: runRef(run),
    script,
    phase: 'mutate',
    args: [(prepared ?? null) as JsonValue],
    access: info.access,
    buffer,
    mutation: (tool, input) => performMutation(ctx, { run, tool, input, buffer, uiTitle }),
  }
  return evaluation
}

/**
 * How long an evaluation started ahead may have waited for its turn and still be taken: a tenth of the phase's
 * wall-clock limit, which counts from the evaluation's start (6 s with the default limit of 60 s; a checkpoint takes
 * milliseconds, or up to the 5 s busy timeout).
 */
function maxWaitAhead(ctx: EngineContext): number {
  try {
    return resolveLimits(ctx.config.sandbox).wallTimeoutMs / 10
  } catch {
    return 0 // invalid limits: every evaluation reports them in its turn
  }
}

/**
 * Takes the head start made for this evaluation, or starts it now, and waits for its result; either way its host
 * calls run from here on.
 */
async function evaluateInTurn(
  ctx: EngineContext,
  run: HandlerRun,
  ahead: HeadStart | undefined,
  evaluation: PhaseEvaluation,
): Promise<{ started: HeadStart; result: EvalResult }> {
  // The key (the arguments as JSON) is built only when there is a head start to compare it with.
  const taken = ahead?.matches(keyOf(run, run.attempt, evaluation)) ? ahead.take(maxWaitAhead(ctx)) : undefined
  if (taken) return { started: ahead!, result: await taken }
  ahead?.abandon()
  const started = HeadStart.now(ctx, evaluation)
  return { started, result: await started.open() }
}

async function mutateTurn(ctx: EngineContext, run: HandlerRun, script: LoadedScript, info: HandlerInfo, prepared: PrepareResult | undefined, ahead?: HeadStart): Promise<Turn> {
  const { started, result } = await evaluateInTurn(ctx, run, ahead, mutateEvaluation(ctx, run, script, info, prepared))
  const buffer = started.buffer
  // `next`, started as soon as this result was known: after a mutate that called no tool, or (below) while the
  // mutation's `applied` write commits.
  let follower = started.takeFollower()
  const applying = started.mutationAttempted ? takeApplying(run) : undefined
  if (applying !== undefined) {
    follower ??= result.ok ? aheadOfApplied(ctx, run, script, info, prepared, applying.resultJson) : undefined
    try {
      await applying.written
    } catch (error) {
      rethrowCrash(error)
      // The write failed (the database, or the row moved by another worker): the row is read back below and decides,
      // as when the script saw the failure itself.
    }
  }
  // Only a mutation call of this evaluation can have written the run's ledger row: a run at `prepared` has none (the
  // row and the move to `mutating` commit together), so a mutate that called no tool needs no lookup. After a call,
  // the row as the call wrote it; read back only when its last write failed.
  const ledger = started.mutationAttempted ? (takeWrittenLedger(run) ?? (await ctx.db.mutations.getByRun(run.id))) : undefined
  const after = mutateOutcome(view(run), ledger ? ledgerView(ledger) : undefined, result, policy(ctx))
  if (after.kind !== 'next') follower?.abandon()
  switch (after.kind) {
    case 'next':
      // No checkpoint between mutate and next: a crash re-runs next (mutate again only if no tool was called).
      return nextTurn(ctx, run, script, info, prepared, after.mutation, [buffer], follower)
    case 'decide':
      return decide(ctx, run, after.decision, [buffer], ledger)
    case 'reconcile':
      return reconcileTurn(ctx, run, ledger!, [buffer])
  }
}

async function ledgerTurn(ctx: EngineContext, run: HandlerRun, script: LoadedScript, info: HandlerInfo, prepared: ReturnType<typeof safePrepared> | undefined): Promise<Turn> {
  const ledger = await ctx.db.mutations.getByRun(run.id)
  if (!ledger) {
    return decide(ctx, run, failure(view(run), { message: `run ${run.id} is mutating but has no ledger row`, type: 'internal' }, 'after', 'mutating', policy(ctx)))
  }
  const after = ledgerOutcome(view(run), ledgerView(ledger), policy(ctx))
  switch (after.kind) {
    case 'next':
      return nextTurn(ctx, run, script, info, prepared?.ok ? prepared.value : undefined, after.mutation, [])
    case 'decide':
      return decide(ctx, run, after.decision, [], ledger)
    case 'reconcile':
      return reconcileTurn(ctx, run, ledger, [])
  }
}

async function reconcileTurn(ctx: EngineContext, run: HandlerRun, ledger: NonNullable<Awaited<ReturnType<EngineContext['db']['mutations']['get']>>>, buffers: PhaseBuffer[]): Promise<Turn> {
  const buffer = new PhaseBuffer('mutating', () => ctx.clock.now())
  const observation = await observeReconcile(ctx, run, ledger, buffer)
  buffer.log(observation.kind === 'applied' ? 'info' : 'warn', `reconcile ${ledger.tool_namespace}.${ledger.tool_method}: ${observation.kind}${'reason' in observation ? ` (${observation.reason})` : ''}`)
  const decision = reconcileOutcome(view(run), ledgerView(ledger), observation, ctx.config.reconcileAttempts, policy(ctx))
  const turn = await decide(ctx, run, decision, [...buffers, buffer], ledger)
  const tool = `${ledger.tool_namespace}.${ledger.tool_method}`
  const base = { mutationId: ledger.id, runId: run.id, workflowId: run.workflow_id, tool }
  if (observation.kind === 'applied') ctx.events.emit('mutation:applied', base)
  else if (run.status === 'paused') ctx.events.emit('mutation:indeterminate', { ...base, error: run.error ?? '' })
  return turn
}

/** The mutation result `next` sees: the run's own ledger row, or the one of the run it retries. */
async function mutationResultOf(ctx: EngineContext, run: HandlerRun): Promise<MutationResult> {
  if (run.phase === 'prepared' || run.phase === 'preparing') return { status: 'none' }
  let current: HandlerRun | undefined = run
  for (let depth = 0; current && depth < 32; depth++) {
    const row = await ctx.db.mutations.getByRun(current.id)
    if (row) {
      const v = ledgerView(row)
      if (v.status === 'applied') return { status: 'applied', result: v.result }
      if (v.status === 'skipped') return { status: 'skipped' }
      return { status: 'none' }
    }
    current = current.retry_of ? await ctx.db.runs.get(current.retry_of) : undefined
  }
  return { status: 'none' }
}

async function nextTurn(
  ctx: EngineContext,
  run: HandlerRun,
  script: LoadedScript,
  info: HandlerInfo,
  prepared: PrepareResult | undefined,
  mutation: MutationResult,
  carried: PhaseBuffer[],
  ahead?: HeadStart,
): Promise<Turn> {
  let buffer = new PhaseBuffer('emitting', () => ctx.clock.now())
  let result: EvalResult = { ok: true, value: undefined }
  if (info.hasNext) {
    const taken = await evaluateInTurn(ctx, run, ahead, nextEvaluation(ctx, run, script, info, prepared, mutation))
    buffer = taken.started.buffer
    result = taken.result
  }
  const decision = nextOutcome(view(run), result, stateOf(ctx, run, result), mutation, policy(ctx))
  return decide(ctx, run, decision, [...carried, buffer])
}

function nextEvaluation(
  ctx: EngineContext,
  run: HandlerRun,
  script: LoadedScript,
  info: HandlerInfo,
  prepared: PrepareResult | undefined,
  mutation: MutationResult,
): PhaseEvaluation {
  const evaluation: PhaseEvaluation = {
    run: runRef(run),
    script,
    phase: 'next',
    args: [(prepared ?? null) as JsonValue, mutation as JsonValue],
    access: info.access,
    buffer: new PhaseBuffer('emitting', () => ctx.clock.now()),
  }
  return evaluation
}
