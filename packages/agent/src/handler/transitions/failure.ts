/**
 * The checkpoint of a failed phase, by the failure policy (retry later, pause for a person, or fail the run and the
 * workflow), and the run columns a successful checkpoint resets.
 */
import type { RunPhase } from '@ledgerflow/db'
import { type Stage, failurePolicy } from '../policy.js'
import type { Decision, Effect, FailureInfo, PolicyContext, RunView } from './decision.js'

/** The checkpoint of a failed phase, by the failure policy. Pure. */
export function failure(run: RunView, error: FailureInfo, stage: Stage, phase: RunPhase, pc: PolicyContext): Decision {
  const outcome = failurePolicy({ type: error.type, stage, attempt: run.attempt, now: pc.now, retry: pc.retry, random: pc.random })
  const base = { phase, error: error.message, errorType: error.type }
  switch (outcome.status) {
    case 'waiting':
      return { patch: { ...base, status: 'waiting', retryAt: outcome.retryAt, attempt: outcome.attempt }, effects: [] }
    case 'paused':
      return {
        patch: { ...base, status: 'paused', retryAt: null },
        effects: [{ type: 'workflow', to: 'paused', error: pausedReason(run, error), errorType: error.type }],
      }
    case 'failed': {
      const effects: Effect[] = []
      if (run.handlerType === 'consumer' && outcome.reservations === 'release') effects.push({ type: 'events', action: 'release' })
      effects.push({ type: 'workflow', to: 'error', error: `${label(run)} failed: ${error.message}`, errorType: error.type })
      return { patch: { ...base, status: 'failed', retryAt: null, ended: true }, effects }
    }
  }
}

/** The run's handler as messages name it, e.g. `Consumer 'triage'`. @internal */
export function label(run: RunView): string {
  return `${run.handlerType === 'producer' ? 'Producer' : 'Consumer'} '${run.handlerName}'`
}

function pausedReason(run: RunView, error: FailureInfo): string {
  return `${label(run)} needs a person (${error.type}): ${error.message}`
}

/** The failure columns a successful checkpoint resets: first attempt, no retry time, no error. @internal */
export const SUCCESS = { attempt: 1, retryAt: null, error: null, errorType: null } as const
