/**
 * An evaluation started ahead of its turn, so that the sandbox works while the database commits the checkpoint
 * before it (on SQLite the commit's fsync blocks the engine's thread; the sandbox runs on its own).
 *
 * The guest starts at once, but every host call it makes waits at a gate. The gate opens when the run reaches the
 * point where the evaluation would otherwise have started: the checkpoint before it committed and applied, and the
 * turn's own checks passed (workflow still active, same run, same input). If the run goes another way (the
 * checkpoint did not apply, an operator paused the workflow, a crash, a different input), the head start is
 * abandoned: the evaluation is aborted, its host calls fail without running, and its result, log lines, cost and
 * publishes are dropped. So nothing the guest asks of the engine happens before its turn, and an abandoned
 * evaluation leaves nothing behind. What the guest can tell is only that its clock reads a little earlier.
 */
import type { EngineContext } from '../context.js'
import type { Tool } from '../tools/define-tool.js'
import { type PhaseEvaluation, evaluatePhase } from './evaluate.js'
import type { PhaseBuffer } from './phase-buffer.js'
import type { EvalResult } from './transitions.js'

/** What a head start is for: the turn that may take it compares this key with its own. */
export interface HeadStartKey {
  runId: string
  attempt: number
  phase: PhaseEvaluation['phase']
  /** The evaluation's arguments as JSON: a turn with other arguments evaluates afresh. */
  args: string
}

/**
 * One evaluation, started now, whose host calls wait for {@link HeadStart.open}.
 *
 * ### Examples
 * ```ts
 * const ahead = HeadStart.start(ctx, { run, script, phase: 'mutate', args, access, buffer, mutation }, key)
 * await checkpoint(...) // the sandbox evaluates meanwhile
 * const taken = ahead.matches(keyNow) ? ahead.take(6_000) : undefined
 * const result = taken ? await taken : (ahead.abandon(), await HeadStart.now(ctx, evaluation).open())
 * ```
 */
export class HeadStart {
  readonly #result: Promise<EvalResult>
  readonly #abort = new AbortController()
  #settle: (open: boolean) => void = () => {}
  #state: 'waiting' | 'open' | 'abandoned' = 'waiting'
  #mutationAttempted = false
  /** When the evaluation started, on the clock the sandbox's wall-clock limit uses. */
  readonly #startedAt = performance.now()
  #follower: HeadStart | undefined

  readonly #ctx: EngineContext
  readonly #run: PhaseEvaluation['run']
  readonly #phase: PhaseEvaluation['phase']

  /** `key`: what a turn compares to take it; absent for an evaluation started in its turn (no gate). */
  private constructor(
    ctx: EngineContext,
    evaluation: PhaseEvaluation,
    readonly key: HeadStartKey | undefined,
  ) {
    this.#ctx = ctx
    this.#run = evaluation.run
    this.#phase = evaluation.phase
    const ahead = key !== undefined
    if (!ahead) this.#state = 'open'
    const gate = ahead
      ? new Promise<boolean>((resolve) => {
          this.#settle = resolve
        })
      : undefined
    const mutation = evaluation.mutation
    this.#result = evaluatePhase(ctx, {
      ...evaluation,
      ...(gate ? { gate, signal: this.#abort.signal } : {}),
      ...(mutation
        ? {
            mutation: (tool: Tool, input: unknown) => {
              this.#mutationAttempted = true
              return mutation(tool, input)
            },
          }
        : {}),
    })
    // An abandoned evaluation's outcome is never awaited; a rejection (the engine closing under it) is not an error.
    this.#result.catch(() => {})
    this.buffer = evaluation.buffer
  }

  /** The buffer of the evaluation's log lines, cost and publishes. */
  readonly buffer: PhaseBuffer

  /** Starts `evaluation` with its host calls held until {@link open}. */
  static start(ctx: EngineContext, evaluation: PhaseEvaluation, key: HeadStartKey): HeadStart {
    return new HeadStart(ctx, evaluation, key)
  }

  /** Starts `evaluation` with its host calls let through at once (an evaluation in its turn). */
  static now(ctx: EngineContext, evaluation: PhaseEvaluation): HeadStart {
    // Not ahead of anything: no gate, and no `evaluation:ahead` event.
    return new HeadStart(ctx, evaluation, undefined)
  }

  /** Whether this evaluation is the one a turn with `key` would start. */
  matches(key: HeadStartKey): boolean {
    const own = this.key
    return (
      this.#state === 'waiting' &&
      own !== undefined &&
      own.runId === key.runId &&
      own.attempt === key.attempt &&
      own.phase === key.phase &&
      own.args === key.args
    )
  }

  /** Whether the evaluation called a mutation tool (the ledger code ran for it). */
  get mutationAttempted(): boolean {
    return this.#mutationAttempted
  }

  /**
   * Starts the evaluation that follows this one as soon as this one's result is known, if `follow` returns one (for
   * example `next` after a `mutate` that called no tool). The follower is created before anyone awaiting this
   * evaluation's result resumes, and is abandoned with this one.
   */
  chain(follow: (result: EvalResult) => HeadStart | undefined): void {
    this.#result.then(
      (result) => {
        if (this.#state !== 'abandoned') this.#follower = follow(result)
      },
      () => {},
    )
  }

  /** Takes the follower started by {@link chain}, if any; the caller opens or abandons it. */
  takeFollower(): HeadStart | undefined {
    const follower = this.#follower
    this.#follower = undefined
    return follower
  }

  /**
   * Takes the evaluation for its turn unless it started more than `maxWaitMs` ago: the sandbox's wall-clock limit
   * counts from the start, so a long wait at the gate (a slow checkpoint) would eat into the phase's budget. Not
   * taken, it is abandoned, and the turn evaluates afresh. Returns the result when taken.
   */
  take(maxWaitMs: number): Promise<EvalResult> | undefined {
    if (this.#state !== 'waiting') return undefined
    if (performance.now() - this.#startedAt > maxWaitMs) {
      this.abandon()
      return undefined
    }
    return this.open()
  }

  /** Lets the host calls through and returns the evaluation's result. */
  open(): Promise<EvalResult> {
    if (this.#state === 'abandoned') throw new Error('a head start was opened after it was abandoned')
    if (this.#state === 'waiting') this.#report(true)
    this.#state = 'open'
    this.#settle(true)
    return this.#result
  }

  #report(taken: boolean): void {
    this.#ctx.events.emit('evaluation:ahead', { runId: this.#run.id, workflowId: this.#run.workflowId, phase: this.#phase, taken })
  }

  /** Drops the evaluation: its host calls fail without running and it is aborted. No-op once opened. */
  abandon(): void {
    if (this.#state !== 'waiting') return
    this.#state = 'abandoned'
    this.#report(false)
    this.#settle(false)
    this.#abort.abort(new Error('head start abandoned'))
    this.takeFollower()?.abandon()
  }
}
