/**
 * One turn per kind of step a run takes: evaluate a phase (`producer`, `prepare`, `mutate`, `next`), read the ledger
 * of a run found `mutating`, or reconcile a mutation whose outcome is unknown. Each ends in exactly one checkpoint
 * (see `decide.ts`), except `mutate` followed by `next`, which share the `next` checkpoint.
 */
import type { HandlerRun } from '@ledgerflow/db'
import type { JsonValue } from '@ledgerflow/sandbox'
import type { EngineContext, LoadedScript } from '../context.js'
import { toEngineError } from '../errors.js'
import { rethrowCrash } from '../faults.js'
import type { PrepareResult } from '../schemas.js'
import { type Turn, decide, peeksOf } from './decide.js'
import { evaluatePhase } from './evaluate.js'
import type { HeadStart } from './head-start.js'
import { ledgerView, observeReconcile, takeApplying, takeWrittenLedger } from './mutation.js'
import { aheadOfApplied, aheadOfPrepared, evaluateInTurn, mutateEvaluation, nextEvaluation, prepareEvaluation } from './phase-evaluations.js'
import { PhaseBuffer } from './phase-buffer.js'
import { type HandlerInfo, type ParsedPrepared, type Settled, asFailure, policy, runRef, stateOf, view } from './run-inputs.js'
import { type EvalResult, type MutationResult, failure, ledgerOutcome, mutateOutcome, nextOutcome, prepareOutcome, producerOutcome, reconcileOutcome } from './transitions.js'

/**
 * What every phase turn works with: the run, its script version and the handler's config there, and the evaluation
 * started ahead for the turn, if any.
 */
export interface TurnInput {
  ctx: EngineContext
  run: HandlerRun
  script: LoadedScript
  info: HandlerInfo
  /** An evaluation started ahead (see `HeadStart`): the turn takes it if it is the one it would start, else abandons it. */
  ahead?: HeadStart | undefined
}

/** `next`'s arguments (SPEC §2): the prepared result and what the mutation did. */
export interface NextArgs {
  prepared: PrepareResult | undefined
  mutation: MutationResult
}

export async function producerTurn({ ctx, run, script, info }: TurnInput, loaded: Promise<Settled<JsonValue>>): Promise<Turn> {
  const buffer = new PhaseBuffer('executing', () => ctx.clock.now())
  const read = await loaded
  if (!read.ok) {
    rethrowCrash(read.error)
    return decide(ctx, { run, decision: failure(view(run), asFailure(read.error), 'before', 'executing', policy(ctx)), buffers: [buffer] })
  }
  const state = read.value
  const result = await evaluatePhase(ctx, { run: runRef(run), script, phase: 'producer', args: [state], access: info.access, buffer })
  const decision = producerOutcome(view(run), result, stateOf(ctx, run, result), policy(ctx))
  decision.patch.inputState = JSON.stringify(state)
  return decide(ctx, { run, decision, buffers: [buffer] })
}

/** `prepare`, with the handler's state as `loaded`; `observedSequence` is the workflow's event sequence as this turn saw it. */
export async function prepareTurn(input: TurnInput, observedSequence: number, loaded: Promise<Settled<JsonValue>>): Promise<Turn> {
  const { ctx, run, info } = input
  const read = await loaded
  if (!read.ok) {
    rethrowCrash(read.error)
    return decide(ctx, {
      run,
      decision: failure(view(run), asFailure(read.error), 'before', 'preparing', policy(ctx)),
      buffers: [new PhaseBuffer('preparing', () => ctx.clock.now())],
    })
  }
  const state = read.value
  const { started, result } = await evaluateInTurn(input, prepareEvaluation(input, state, peeksOf(run)))
  const buffer = started.buffer
  const decision = prepareOutcome(view(run), result, info.access, observedSequence, policy(ctx))
  decision.patch.inputState = JSON.stringify(state)
  const ahead = aheadOfPrepared(input, decision)
  try {
    const turn = await decide(ctx, { run, decision, buffers: [buffer] })
    return ahead ? { ...turn, ahead } : turn
  } catch (error) {
    ahead?.abandon()
    rethrowCrash(error)
    const e = toEngineError(error)
    if (e.type !== 'logic') throw error
    // The reservation was refused (unknown, foreign or already reserved ids): nothing was reserved.
    const message = `Consumer '${run.handler_name}' prepare: ${e.message}`
    buffer.log('error', message)
    return decide(ctx, { run, decision: failure(view(run), { message, type: 'logic' }, 'before', 'preparing', policy(ctx)), buffers: [buffer] })
  }
}

export async function mutateTurn(input: TurnInput, prepared: PrepareResult | undefined): Promise<Turn> {
  const { ctx, run } = input
  const { started, result } = await evaluateInTurn(input, mutateEvaluation(input, prepared))
  const buffer = started.buffer
  // `next`, started as soon as this result was known: after a mutate that called no tool, or (below) while the
  // mutation's `applied` write commits.
  let follower = started.takeFollower()
  const applying = started.mutationAttempted ? takeApplying(run) : undefined
  if (applying !== undefined) {
    follower ??= result.ok ? aheadOfApplied(input, prepared, applying.resultJson) : undefined
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
      return nextTurn({ ...input, ahead: follower }, { prepared, mutation: after.mutation }, [buffer])
    case 'decide':
      return decide(ctx, { run, decision: after.decision, buffers: [buffer], ledger })
    case 'reconcile':
      return reconcileTurn(input, ledger!, [buffer])
  }
}

/** A run found `mutating` (resumed after a crash, or retried): its ledger row says what happened. */
export async function ledgerTurn(input: TurnInput, prepared: ParsedPrepared | undefined): Promise<Turn> {
  const { ctx, run } = input
  const ledger = await ctx.db.mutations.getByRun(run.id)
  if (!ledger) {
    const message = `run ${run.id} is mutating but has no ledger row`
    return decide(ctx, { run, decision: failure(view(run), { message, type: 'internal' }, 'after', 'mutating', policy(ctx)) })
  }
  const after = ledgerOutcome(view(run), ledgerView(ledger), policy(ctx))
  switch (after.kind) {
    case 'next':
      return nextTurn(input, { prepared: prepared?.ok ? prepared.value : undefined, mutation: after.mutation }, [])
    case 'decide':
      return decide(ctx, { run, decision: after.decision, buffers: [], ledger })
    case 'reconcile':
      return reconcileTurn(input, ledger, [])
  }
}

type LedgerRow = NonNullable<Awaited<ReturnType<EngineContext['db']['mutations']['get']>>>

/** Asks the tool to reconcile the mutation of a run whose outcome is unknown, and checkpoints what it found. */
async function reconcileTurn({ ctx, run }: TurnInput, ledger: LedgerRow, buffers: PhaseBuffer[]): Promise<Turn> {
  const buffer = new PhaseBuffer('mutating', () => ctx.clock.now())
  const observation = await observeReconcile(ctx, { run, ledger, buffer })
  buffer.log(observation.kind === 'applied' ? 'info' : 'warn', `reconcile ${ledger.tool_namespace}.${ledger.tool_method}: ${observation.kind}${'reason' in observation ? ` (${observation.reason})` : ''}`)
  const decision = reconcileOutcome(view(run), ledgerView(ledger), observation, ctx.config.reconcileAttempts, policy(ctx))
  const turn = await decide(ctx, { run, decision, buffers: [...buffers, buffer], ledger })
  const tool = `${ledger.tool_namespace}.${ledger.tool_method}`
  const base = { mutationId: ledger.id, runId: run.id, workflowId: run.workflow_id, tool }
  if (observation.kind === 'applied') ctx.events.emit('mutation:applied', base)
  else if (run.status === 'paused') ctx.events.emit('mutation:indeterminate', { ...base, error: run.error ?? '' })
  return turn
}

/** The mutation result `next` sees: the run's own ledger row, or the one of the run it retries. */
export async function mutationResultOf(ctx: EngineContext, run: HandlerRun): Promise<MutationResult> {
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

/** `next` (or its absence) and the commit; `carried` are the buffers of the turn's earlier phase, written with it. */
export async function nextTurn(input: TurnInput, args: NextArgs, carried: PhaseBuffer[]): Promise<Turn> {
  const { ctx, run, info } = input
  let buffer = new PhaseBuffer('emitting', () => ctx.clock.now())
  let result: EvalResult = { ok: true, value: undefined }
  if (info.hasNext) {
    const taken = await evaluateInTurn(input, nextEvaluation(input, args))
    buffer = taken.started.buffer
    result = taken.result
  }
  const decision = nextOutcome(view(run), result, stateOf(ctx, run, result), args.mutation, policy(ctx))
  return decide(ctx, { run, decision, buffers: [...carried, buffer] })
}
