/**
 * The producer's decision: its one phase, `executing`, commits (publish, state) or fails.
 */
import type { Decision, Effect, EvalResult, PolicyContext, RunView, StateOutcome } from './decision.js'
import { SUCCESS, failure } from './failure.js'

/** The producer's checkpoint after its handler ran. Pure. */
export function producerOutcome(run: RunView, result: EvalResult, state: StateOutcome, pc: PolicyContext): Decision {
  if (!result.ok) return failure(run, result.error, 'before', 'executing', pc)
  if (!state.ok) return failure(run, state.error, 'before', 'executing', pc)
  const effects: Effect[] = [{ type: 'publish' }]
  if (state.json !== undefined) effects.push({ type: 'state', state: state.json })
  return {
    patch: { ...SUCCESS, phase: 'committed', status: 'committed', ended: true, outputState: state.json ?? null },
    effects,
  }
}
