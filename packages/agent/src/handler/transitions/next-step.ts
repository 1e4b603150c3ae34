/**
 * Which step `executeHandler` takes next with a run, from its phase and status: the entry of the state machine.
 */
import type { RunView } from './decision.js'

/** What `executeHandler` does next with a run. */
export type Step =
  | { kind: 'done' }
  | { kind: 'not-due'; retryAt: number }
  | { kind: 'activate' }
  | { kind: 'start'; phase: 'executing' | 'preparing' }
  | { kind: 'evaluate'; phase: 'producer' | 'prepare' | 'mutate' | 'next' }
  | { kind: 'ledger' }

/** Chooses the next step of a run. Pure. */
export function nextStep(run: RunView, now: number, prepared: { reservations: number; hasMutate: boolean }): Step {
  if (run.status === 'committed' || run.status === 'failed' || run.status === 'paused') return { kind: 'done' }
  if (run.status === 'waiting') {
    return run.retryAt !== null && run.retryAt > now ? { kind: 'not-due', retryAt: run.retryAt } : { kind: 'activate' }
  }
  if (run.handlerType === 'producer') {
    if (run.phase === 'pending') return { kind: 'start', phase: 'executing' }
    return run.phase === 'executing' ? { kind: 'evaluate', phase: 'producer' } : { kind: 'done' }
  }
  switch (run.phase) {
    case 'pending':
      return { kind: 'start', phase: 'preparing' }
    case 'preparing':
      return { kind: 'evaluate', phase: 'prepare' }
    case 'prepared':
      return prepared.reservations > 0 && prepared.hasMutate
        ? { kind: 'evaluate', phase: 'mutate' }
        : { kind: 'evaluate', phase: 'next' }
    case 'mutating':
      return { kind: 'ledger' }
    case 'mutated':
    case 'emitting':
      return { kind: 'evaluate', phase: 'next' }
    default:
      return { kind: 'done' }
  }
}
