/**
 * The consumer's commit after `next` ran (or was absent): consume or skip its events, publish, store the state.
 */
import type { Decision, Effect, EvalResult, MutationResult, PolicyContext, RunView, StateOutcome } from './decision.js'
import { SUCCESS, failure } from './failure.js'

/** The consumer's commit after `next` ran (or was absent). Pure. */
export function nextOutcome(run: RunView, result: EvalResult, state: StateOutcome, mutation: MutationResult, pc: PolicyContext): Decision {
  if (!result.ok) return failure(run, result.error, 'after', 'emitting', pc)
  if (!state.ok) return failure(run, state.error, 'after', 'emitting', pc)
  const effects: Effect[] = [{ type: 'events', action: mutation.status === 'skipped' ? 'skip' : 'consume' }, { type: 'publish' }]
  if (state.json !== undefined) effects.push({ type: 'state', state: state.json })
  return {
    patch: { ...SUCCESS, phase: 'committed', status: 'committed', ended: true, outputState: state.json ?? null },
    effects,
  }
}
