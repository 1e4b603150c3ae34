/**
 * The handler state machine of SPEC §6 as pure decisions: given a run (and the ledger row, and what an evaluation
 * returned), what the run's next checkpoint writes, as data. Pure; does not execute effects — `execute-handler.ts`
 * performs them, each decision in one transaction.
 *
 * Producer: `pending → executing → committed`.
 * Consumer: `pending → preparing → prepared → mutating → mutated → emitting → committed`.
 *
 * Phases that carry no data are not checkpointed on their own: a session creates runs directly in their first
 * phase, and `next` runs from `prepared` (no mutation), `mutated` or `emitting` alike; a crash there re-runs `next`,
 * which has no external effect (its publishes are buffered until the commit).
 *
 * The decisions live in `transitions/`, one module per concern, and this module re-exports them all (the package
 * exports it as the `transitions` namespace): the decision data (`decision.ts`), the next step (`next-step.ts`), the
 * checkpoint of a failed phase (`failure.ts`), and the outcome of each phase (`producer-outcome.ts`,
 * `prepare-outcome.ts`, `mutate-outcome.ts`, `reconcile-outcome.ts`, `next-outcome.ts`).
 */
export type {
  Decision,
  Effect,
  EvalResult,
  FailureInfo,
  LedgerChange,
  LedgerView,
  MutationResult,
  PolicyContext,
  RunPatch,
  RunView,
  StateOutcome,
} from './transitions/decision.js'
export { nextStep, type Step } from './transitions/next-step.js'
export { failure } from './transitions/failure.js'
export { producerOutcome } from './transitions/producer-outcome.js'
export { parsePrepareResult, prepareOutcome } from './transitions/prepare-outcome.js'
export { type AfterMutate, indeterminate, ledgerOutcome, mutateOutcome, mutationNotApplied } from './transitions/mutate-outcome.js'
export { type ReconcileObservation, reconcileOutcome } from './transitions/reconcile-outcome.js'
export { nextOutcome } from './transitions/next-outcome.js'
