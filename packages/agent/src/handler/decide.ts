/**
 * Applying a turn's decision: one checkpoint (see `checkpoint.ts`), and what the turn learns from it. Also where an
 * execution keeps the session's options for its run (the next pick and the peeks read ahead), which every
 * checkpoint of that execution passes on.
 */
import type { HandlerRun, PickView, WorkflowStatus } from '@ledgerflow/db'
import type { JsonValue } from '@ledgerflow/sandbox'
import type { EngineContext } from '../context.js'
import { type CheckpointInput, type NextPick, checkpoint } from './checkpoint.js'
import type { HeadStart } from './head-start.js'
import type { PeekAhead } from './peek-ahead.js'

/** What one turn of a run did. */
export interface Turn {
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

/**
 * The next pick of each run being executed with one (see `ExecuteOptions.nextPick`), for {@link decide}: keyed by the
 * executor's own copy of the run, which every turn and checkpoint of this execution share.
 */
const nextPicks = new WeakMap<HandlerRun, NextPick>()
/** The `ExecuteOptions.peeks` of each run being executed with them, keyed as {@link nextPicks}. */
const runPeeks = new WeakMap<HandlerRun, PeekAhead>()

/** Keeps the session's options for `run` (the executor's own copy) while it is executed. */
export function keepRunOptions(run: HandlerRun, options: { nextPick?: NextPick | undefined; peeks?: PeekAhead | undefined }): void {
  if (options.nextPick) nextPicks.set(run, options.nextPick)
  if (options.peeks) runPeeks.set(run, options.peeks)
}

/** The peeks read ahead for `run`, if the session passed any. */
export function peeksOf(run: HandlerRun): PeekAhead | undefined {
  return runPeeks.get(run)
}

/** What a turn checkpoints: its decision for `run`, with the buffers and the ledger row the checkpoint writes. */
export type DecideInput = Pick<CheckpointInput, 'run' | 'decision' | 'buffers' | 'ledger'>

/** Applies a decision; a run moved by someone else stops this executor without writing. */
export async function decide(ctx: EngineContext, input: DecideInput): Promise<Turn> {
  const { run, decision, buffers = [], ledger } = input
  const pick = nextPicks.get(run)
  const peek = runPeeks.get(run)?.readAhead
  const nextPick = pick && peek ? { ...pick, peek } : pick
  const result = await checkpoint(ctx, { run, decision, buffers, ledger, ...(nextPick ? { nextPick } : {}) })
  if (!result.applied) return { stop: true }
  return { stop: false, retriedAs: result.retriedAs, ...(result.workflow ? { workflow: result.workflow } : {}), ...(result.view ? { view: result.view } : {}) }
}
