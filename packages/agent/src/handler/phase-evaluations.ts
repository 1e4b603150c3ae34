/**
 * The evaluation each phase of a run makes (`prepare`, `mutate`, `next`), and those started ahead of their turn: a
 * consumer's `prepare` while the run's row is written, the phase after `prepare` while its checkpoint commits, and
 * `next` while the mutation's `applied` write commits (see `HeadStart`). A turn takes a head start only when it was
 * made for exactly the evaluation the turn would start (same run, attempt, phase and arguments).
 */
import type { HandlerRun } from '@ledgerflow/db'
import { type JsonValue, resolveLimits } from '@ledgerflow/sandbox'
import type { EngineContext, LoadedScript } from '../context.js'
import type { PrepareResult } from '../schemas.js'
import type { PhaseEvaluation } from './evaluate.js'
import { HeadStart, type HeadStartKey } from './head-start.js'
import { performMutation } from './mutation.js'
import type { PeekAhead } from './peek-ahead.js'
import { PhaseBuffer } from './phase-buffer.js'
import type { NextArgs, TurnInput } from './phase-turns.js'
import { type HandlerInfo, handlerInfo, parsePrepared, runRef } from './run-inputs.js'
import type { Decision, EvalResult } from './transitions.js'

/** The columns of a run that `prepare`'s evaluation reads: the run may be one about to be created. */
type PrepareRun = Pick<HandlerRun, 'id' | 'workflow_id' | 'handler_type' | 'handler_name'>

/** What `prepare`'s evaluation is made from: a turn's input, whose run may be one about to be created. */
type PrepareInput = Pick<TurnInput, 'ctx' | 'script' | 'info'> & { run: PrepareRun }

/** `prepare`'s evaluation with `state` (and the events read ahead for its first peek, if any). */
export function prepareEvaluation({ ctx, run, script, info }: PrepareInput, state: JsonValue, peeks?: PeekAhead): PhaseEvaluation {
  const buffer = new PhaseBuffer('preparing', () => ctx.clock.now())
  return { run: runRef(run), script, phase: 'prepare', args: [state], access: info.access, buffer, ...(peeks ? { peeks } : {}) }
}

/**
 * `mutate`'s evaluation. Its one mutation call goes through the ledger with `run` as it is when the call is made:
 * `run` is the executor's own object, which each applied checkpoint updates in place.
 */
export function mutateEvaluation({ ctx, run, script, info }: TurnInput, prepared: PrepareResult | undefined): PhaseEvaluation {
  const buffer = new PhaseBuffer('mutating', () => ctx.clock.now())
  const uiTitle = typeof prepared?.ui?.title === 'string' ? prepared.ui.title : null
  return {
    run: runRef(run),
    script,
    phase: 'mutate',
    args: [(prepared ?? null) as JsonValue],
    access: info.access,
    buffer,
    mutation: (tool, input) => performMutation(ctx, { run, tool, input, buffer, uiTitle }),
  }
}

/** `next`'s evaluation, with its arguments: the prepared result and what the mutation did. */
export function nextEvaluation({ ctx, run, script, info }: TurnInput, { prepared, mutation }: NextArgs): PhaseEvaluation {
  return {
    run: runRef(run),
    script,
    phase: 'next',
    args: [(prepared ?? null) as JsonValue, mutation as JsonValue],
    access: info.access,
    buffer: new PhaseBuffer('emitting', () => ctx.clock.now()),
  }
}

/** What {@link startPrepareAhead} starts from: the run about to be created and its script version. */
export interface NewRunInput {
  ctx: EngineContext
  /** The row as it will be (id, workflow, handler, attempt 1). */
  run: PrepareRun & Pick<HandlerRun, 'attempt'>
  script: LoadedScript
}

/**
 * Starts the `prepare` of a consumer run that is about to be created, so that the sandbox evaluates it while the
 * run's row is written (with `EngineConfig.headStart`; otherwise, or for a handler the script does not have,
 * `undefined`). `state` is the handler's state, read just before. Its reads of the workflow's events run at once,
 * every other host call waits for its turn (see `HeadStart`). The creator passes it to `executeHandler`
 * (`prepareAhead`), or abandons it if the row was not written.
 */
export function startPrepareAhead(input: NewRunInput, state: JsonValue): HeadStart | undefined {
  const { ctx, run, script } = input
  if (!ctx.config.headStart || run.handler_type !== 'consumer') return undefined
  let info: HandlerInfo
  try {
    info = handlerInfo(script, run)
  } catch {
    return undefined // the run's first turn reports it
  }
  const evaluation = { ...prepareEvaluation({ ctx, run, script, info }, state), readsAhead: true }
  return HeadStart.start(ctx, evaluation, keyOf(run, run.attempt, evaluation))
}

/**
 * The evaluation that follows a prepare decision, started ahead: when the decision moves the run to `prepared`, the
 * next turn evaluates `mutate` (events reserved, a mutate declared) or `next`, with arguments known now.
 */
export function aheadOfPrepared(input: TurnInput, decision: Decision): HeadStart | undefined {
  const { ctx, run, info } = input
  const { patch } = decision
  if (patch.phase !== 'prepared' || patch.status !== undefined || patch.prepareResult === undefined || !ctx.config.headStart) return undefined
  const prepared = parsePrepared(run.id, patch.prepareResult)
  if (!prepared.ok) return undefined
  const reservations = prepared.value.reservations.reduce((n, r) => n + r.ids.length, 0)
  // The attempt the run will have once the checkpoint applies (the key of the next turn).
  const attempt = patch.attempt ?? run.attempt
  const ahead = (evaluation: PhaseEvaluation) => HeadStart.start(ctx, evaluation, keyOf(run, attempt, evaluation))
  if (reservations > 0 && info.hasMutate) {
    const mutate = ahead(mutateEvaluation(input, prepared.value))
    // A mutate that called no tool is followed by `next` with no mutation (`mutateOutcome`): start that one too.
    if (info.hasNext) {
      mutate.chain((result) =>
        result.ok && !mutate.mutationAttempted ? ahead(nextEvaluation(input, { prepared: prepared.value, mutation: { status: 'none' } })) : undefined,
      )
    }
    return mutate
  }
  if (info.hasNext) return ahead(nextEvaluation(input, { prepared: prepared.value, mutation: { status: 'none' } }))
  return undefined
}

/**
 * `next`, started ahead while the `applied` write of `mutate`'s mutation commits, with the mutation result the row
 * will hold. The turn takes it once the row is committed `applied` (the run then at `mutated`, attempt 1); any other
 * outcome abandons it.
 */
export function aheadOfApplied(input: TurnInput, prepared: PrepareResult | undefined, resultJson: string | null): HeadStart | undefined {
  const { ctx, run, info } = input
  if (!info.hasNext || !ctx.config.headStart) return undefined
  let result: JsonValue
  try {
    result = resultJson === null ? null : (JSON.parse(resultJson) as JsonValue)
  } catch {
    return undefined
  }
  const evaluation = nextEvaluation(input, { prepared, mutation: { status: 'applied', result } })
  return HeadStart.start(ctx, evaluation, keyOf(run, 1, evaluation))
}

/**
 * Takes the head start made for this evaluation (the turn's `ahead`), or starts it now, and waits for its result;
 * either way its host calls run from here on.
 */
export async function evaluateInTurn(input: TurnInput, evaluation: PhaseEvaluation): Promise<{ started: HeadStart; result: EvalResult }> {
  const { ctx, run, ahead } = input
  // The key (the arguments as JSON) is built only when there is a head start to compare it with.
  const taken = ahead?.matches(keyOf(run, run.attempt, evaluation)) ? ahead.take(maxWaitAhead(ctx)) : undefined
  if (taken) return { started: ahead!, result: await taken }
  ahead?.abandon()
  const started = HeadStart.now(ctx, evaluation)
  return { started, result: await started.open() }
}

function keyOf(run: Pick<HandlerRun, 'id'>, attempt: number, e: PhaseEvaluation): HeadStartKey {
  return { runId: run.id, attempt, phase: e.phase, args: JSON.stringify(e.args) }
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
