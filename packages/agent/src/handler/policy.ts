/**
 * The failure policy of SPEC §8 as a pure function: what happens to a run, its reservations and its workflow
 * when a phase fails with an error of a given class. Pure; does not execute effects.
 *
 * | error             | before the mutation                               | after (in next)                 |
 * |-------------------|---------------------------------------------------|---------------------------------|
 * | network           | `waiting` with backoff, capped; then `failed`     | `waiting`, retried; then failed |
 * | auth / permission | run `paused`, workflow `paused`                   | run `paused`                    |
 * | logic / internal  | run `failed`, reservations released, wf `error`   | run `failed`, reservations kept |
 *
 * The mutation call itself is decided by the ledger (see `transitions.ts`).
 */
import type { RetryPolicy } from '../config.js'
import type { ErrorType } from '../errors.js'

/** Where a failure happened relative to the run's mutation. */
export type Stage = 'before' | 'after'

/** What the policy decides. */
export type FailureOutcome =
  | { status: 'waiting'; retryAt: number; attempt: number }
  | { status: 'paused' }
  | { status: 'failed'; reservations: 'release' | 'keep' }

/** Inputs of {@link failurePolicy}. */
export interface PolicyInput {
  type: ErrorType
  stage: Stage
  /** The attempt that just failed (1-based). */
  attempt: number
  now: number
  retry: RetryPolicy
  /** A number in [0, 1): the jitter source. */
  random: number
}

/** Exponential backoff with ±20% jitter, capped. Pure. */
export function backoffDelay(attempt: number, retry: RetryPolicy, random: number): number {
  const exp = retry.baseDelayMs * 2 ** Math.max(0, attempt - 1)
  const capped = Math.min(retry.maxDelayMs, exp)
  return Math.max(1, Math.round(capped * (0.8 + 0.4 * random)))
}

/** Decides the outcome of a failed phase. Pure. */
export function failurePolicy(input: PolicyInput): FailureOutcome {
  switch (input.type) {
    case 'network':
      if (input.attempt < input.retry.maxAttempts) {
        return {
          status: 'waiting',
          retryAt: input.now + backoffDelay(input.attempt, input.retry, input.random),
          attempt: input.attempt + 1,
        }
      }
      return { status: 'failed', reservations: input.stage === 'before' ? 'release' : 'keep' }
    case 'auth':
    case 'permission':
    case 'indeterminate':
      return { status: 'paused' }
    case 'logic':
    case 'internal':
      return { status: 'failed', reservations: input.stage === 'before' ? 'release' : 'keep' }
  }
}
