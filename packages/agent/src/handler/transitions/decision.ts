/**
 * The data of the handler state machine's decisions (see `../transitions.ts`): the views of a run and of its ledger row
 * that decisions read, what an evaluation returned, and the {@link Decision} each transition returns: a checkpoint's
 * run columns and its effects, as data.
 */
import type { ErrorType, Reservation, RunPhase, RunStatus } from '@ledgerflow/db'
import type { RetryPolicy } from '../../config.js'

/** The subset of a run that decisions read. */
export interface RunView {
  handlerType: 'producer' | 'consumer'
  handlerName: string
  phase: RunPhase
  status: RunStatus
  attempt: number
  retryAt: number | null
}

/** The subset of a ledger row that decisions read. */
export interface LedgerView {
  status: 'pending' | 'in_flight' | 'applied' | 'failed' | 'indeterminate' | 'skipped'
  errorType: ErrorType | null
  error: string | null
  result: unknown
  reconcileAttempts: number
}

/** An error as decisions see it. */
export interface FailureInfo {
  message: string
  type: ErrorType
}

/** The outcome of one evaluation. */
export type EvalResult = { ok: true; value: unknown } | { ok: false; error: FailureInfo }

/** What `next` receives as its second argument (SPEC §2). */
export type MutationResult = { status: 'applied'; result: unknown } | { status: 'none' } | { status: 'skipped' }

/** A handler's returned state, serialized and size-checked by the caller. */
export type StateOutcome = { ok: true; json: string | undefined } | { ok: false; error: FailureInfo }

/** Time, retry policy and jitter for decisions. */
export interface PolicyContext {
  now: number
  retry: RetryPolicy
  /** A number in [0, 1). */
  random: number
}

/** Columns a checkpoint writes on the run. `ended` sets `end_timestamp` to the checkpoint time. */
export interface RunPatch {
  phase?: RunPhase
  status?: RunStatus
  attempt?: number
  retryAt?: number | null
  error?: string | null
  errorType?: ErrorType | null
  ended?: boolean
  prepareResult?: string
  inputState?: string | null
  outputState?: string | null
}

/** A ledger write. */
export interface LedgerChange {
  status: LedgerView['status']
  result?: string | null
  error?: string | null
  errorType?: ErrorType | null
  reconcileAttempts?: number
  nextReconcileAt?: number | null
}

/** Side effects of a checkpoint, performed in the same transaction as its {@link RunPatch}. */
export type Effect =
  | { type: 'reserve'; reservations: Reservation[] }
  | { type: 'events'; action: 'consume' | 'skip' | 'release' }
  /** Write the events the phase published (buffered until now). */
  | { type: 'publish' }
  /** Save the handler state (JSON text). */
  | { type: 'state'; state: string }
  | { type: 'wakeup'; idleAfterSequence: number | null; wakeAt: number | null }
  /** Set the workflow's status, only if it is still `active` (an operator's pause is never overwritten). */
  | { type: 'workflow'; to: 'error' | 'paused'; error: string; errorType: ErrorType }
  | { type: 'ledger'; change: LedgerChange }
  /** End this run and continue in a new run (same handler, reservations moved), e.g. to retry a mutation. */
  | { type: 'retry-run'; phase: RunPhase; status: 'active' | 'waiting'; retryAt: number | null; attempt: number }

/** One checkpoint: the run's new columns and the effects, written together. */
export interface Decision {
  patch: RunPatch
  effects: Effect[]
}
