/**
 * The consumer's decision after asking the tool to reconcile a mutation whose outcome is unknown.
 */
import { backoffDelay } from '../policy.js'
import type { Decision, LedgerView, PolicyContext, RunView } from './decision.js'
import { SUCCESS } from './failure.js'
import { indeterminate, mutationNotApplied } from './mutate-outcome.js'

/** What a reconcile attempt found. */
export type ReconcileObservation =
  | { kind: 'applied'; resultJson: string | null }
  | { kind: 'not_applied' }
  | { kind: 'unknown'; reason: string }
  | { kind: 'no-reconcile'; reason: string }

/** The checkpoint after asking the tool to reconcile an unknown outcome. Pure. */
export function reconcileOutcome(
  run: RunView,
  ledger: LedgerView,
  observation: ReconcileObservation,
  maxAttempts: number,
  pc: PolicyContext,
): Decision {
  const attempts = ledger.reconcileAttempts + 1
  switch (observation.kind) {
    case 'applied':
      return {
        patch: { ...SUCCESS, phase: 'mutated' },
        effects: [{ type: 'ledger', change: { status: 'applied', result: observation.resultJson, reconcileAttempts: attempts, nextReconcileAt: null } }],
      }
    case 'not_applied': {
      // The error the call failed with decides what follows (auth: a person; network or a crash: retry).
      const type = ledger.errorType === null || ledger.errorType === 'indeterminate' ? 'network' : ledger.errorType
      const error = { message: `reconciliation found that the mutation did not happen${ledger.error ? ` (${ledger.error})` : ''}`, type }
      const decision = mutationNotApplied(run, error, pc)
      return {
        ...decision,
        effects: [
          { type: 'ledger', change: { status: 'failed', errorType: type, reconcileAttempts: attempts, nextReconcileAt: null } },
          ...decision.effects,
        ],
      }
    }
    case 'no-reconcile':
      return indeterminate(run, observation.reason, pc)
    case 'unknown': {
      if (attempts >= maxAttempts) {
        const decision = indeterminate(run, `${observation.reason} (after ${attempts} reconciliation attempts)`, pc)
        return { ...decision, effects: decision.effects.map((e) => (e.type === 'ledger' ? { ...e, change: { ...e.change, reconcileAttempts: attempts } } : e)) }
      }
      const retryAt = pc.now + backoffDelay(attempts, pc.retry, pc.random)
      return {
        patch: { phase: 'mutating', status: 'waiting', retryAt, error: `reconciling: ${observation.reason}`, errorType: 'network' },
        effects: [{ type: 'ledger', change: { status: 'in_flight', reconcileAttempts: attempts, nextReconcileAt: retryAt } }],
      }
    }
  }
}
