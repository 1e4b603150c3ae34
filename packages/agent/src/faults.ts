/**
 * Named crash points: every checkpoint of the engine calls the fault hook, so tests (and the crash campaign) can
 * stop the engine exactly there — by throwing {@link SimulatedCrash} in-process, or by killing the process.
 * In production the hook is absent and costs nothing.
 *
 * The crash windows:
 * - `run:before-checkpoint` / `run:after-checkpoint`: around every transaction that moves a run (its `phase`
 *   says which), including the failure and commit transactions;
 * - `mutation:after-in-flight`: the ledger row is committed `in_flight`, the external call has not been made;
 * - `mutation:after-call`: the external call returned, its outcome is not committed;
 * - `session:after-open` / `session:before-close`: around the session's own rows.
 */

/** Names of crash points. */
export type CrashPoint =
  | 'session:after-open'
  | 'session:before-close'
  | 'run:after-create'
  | 'run:before-checkpoint'
  | 'run:after-checkpoint'
  | 'mutation:after-in-flight'
  | 'mutation:after-call'

/** Every crash point, for campaigns that must visit each at least once. */
export const CRASH_POINTS: readonly CrashPoint[] = [
  'session:after-open',
  'session:before-close',
  'run:after-create',
  'run:before-checkpoint',
  'run:after-checkpoint',
  'mutation:after-in-flight',
  'mutation:after-call',
]

/** Where a crash point was hit. */
export interface CrashSite {
  point: CrashPoint
  workflowId?: string
  sessionId?: string
  runId?: string
  /** For run checkpoints: the phase the checkpoint writes (or the phase of the failure). */
  phase?: string
}

/** Called at every crash point; may throw {@link SimulatedCrash} or end the process. */
export type FaultHook = (site: CrashSite) => void

const MARKER = Symbol.for('ledgerflow.simulated-crash')

/**
 * Thrown by a fault hook to stop the engine as a crash would: the engine never catches it, never writes anything
 * after it, and lets it propagate to the caller.
 */
export class SimulatedCrash extends Error {
  readonly [MARKER] = true
  constructor(readonly site: CrashSite) {
    super(`simulated crash at ${site.point}${site.phase ? ` (${site.phase})` : ''}`)
    this.name = 'SimulatedCrash'
  }

  static isInstance(error: unknown): error is SimulatedCrash {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true
  }
}

/** Rethrows a simulated crash; call first in every catch block that would otherwise write or swallow. */
export function rethrowCrash(error: unknown): void {
  if (SimulatedCrash.isInstance(error)) throw error
}
