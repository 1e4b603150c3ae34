/**
 * The consumer's decisions after `mutate` ran or at `mutating` after a crash: the ledger row decides whether `next`
 * runs, the tool is asked to reconcile, the mutation is retried in a new run, or the run pauses for a person.
 */
import { backoffDelay } from '../policy.js'
import type { Decision, EvalResult, FailureInfo, LedgerView, MutationResult, PolicyContext, RunView } from './decision.js'
import { failure, label } from './failure.js'

/** What follows `mutate`, decided from the ledger. */
export type AfterMutate = { kind: 'next'; mutation: MutationResult } | { kind: 'decide'; decision: Decision } | { kind: 'reconcile' }

/** After `mutate` ran: the ledger row (if a tool was called) decides. Pure. */
export function mutateOutcome(run: RunView, ledger: LedgerView | undefined, result: EvalResult, pc: PolicyContext): AfterMutate {
  if (!ledger) {
    if (result.ok) return { kind: 'next', mutation: { status: 'none' } }
    return { kind: 'decide', decision: failure(run, result.error, 'before', 'prepared', pc) }
  }
  if (ledger.status === 'applied' && !result.ok) {
    // The effect happened; what failed is the script after it (e.g. a further tool call).
    return { kind: 'decide', decision: failure(run, result.error, 'after', 'mutated', pc) }
  }
  return ledgerOutcome(run, ledger, pc)
}

/** A run at `mutating` (after a crash, or after mutate): the ledger row decides. Pure. */
export function ledgerOutcome(run: RunView, ledger: LedgerView, pc: PolicyContext): AfterMutate {
  switch (ledger.status) {
    case 'applied':
      return { kind: 'next', mutation: { status: 'applied', result: ledger.result } }
    case 'skipped':
      return { kind: 'next', mutation: { status: 'skipped' } }
    case 'pending':
    case 'in_flight':
      return { kind: 'reconcile' }
    case 'indeterminate':
      return { kind: 'decide', decision: indeterminate(run, ledger.error ?? 'outcome unknown', pc) }
    case 'failed':
      return { kind: 'decide', decision: mutationNotApplied(run, { message: ledger.error ?? 'mutation failed', type: ledger.errorType ?? 'internal' }, pc) }
  }
}

/**
 * The mutation definitely did not happen. logic/internal: the run fails and releases its events; auth/permission:
 * the run pauses (resuming retries the mutation in a new run); network: retried in a new run with backoff.
 */
export function mutationNotApplied(run: RunView, error: FailureInfo, pc: PolicyContext): Decision {
  if (error.type === 'network') {
    if (run.attempt >= pc.retry.maxAttempts) return failure(run, error, 'before', 'mutating', pc)
    const retryAt = pc.now + backoffDelay(run.attempt, pc.retry, pc.random)
    return {
      patch: { phase: 'mutating', status: 'failed', ended: true, error: `mutation not applied: ${error.message}`, errorType: 'network' },
      effects: [{ type: 'retry-run', phase: 'prepared', status: 'waiting', retryAt, attempt: run.attempt + 1 }],
    }
  }
  return failure(run, error, 'before', 'mutating', pc)
}

/** The outcome stays unknown: the ledger is parked `indeterminate` and the run pauses for a person. Pure. */
export function indeterminate(run: RunView, reason: string, _pc: PolicyContext): Decision {
  const message = `mutation outcome unknown: ${reason}`
  return {
    patch: { phase: 'mutating', status: 'paused', retryAt: null, error: message, errorType: 'indeterminate' },
    effects: [
      { type: 'ledger', change: { status: 'indeterminate', nextReconcileAt: null } },
      { type: 'workflow', to: 'paused', error: `${label(run)}: ${message}; resolve it (applied, not_applied or skip)`, errorType: 'indeterminate' },
    ],
  }
}
