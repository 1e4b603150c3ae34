/**
 * Time budgets of one evaluation: guest CPU time (only while guest code runs: script load, handler calls and
 * promise jobs; host callbacks and waiting for host calls do not count), wall-clock time, and the abort signal.
 */
import { limitError } from './errors.js'
import type { SandboxErrorData, SandboxLimits } from './types.js'

/** Pure; the error of an evaluation the host aborted. */
export function abortedError(): SandboxErrorData {
  return limitError('aborted', 'The evaluation was aborted by the host')
}

/** Pure; the error of an evaluation past its wall-clock budget. */
export function wallTimeoutError(limits: SandboxLimits): SandboxErrorData {
  return limitError('sandbox_wall_timeout', `The evaluation did not finish within ${limits.wallTimeoutMs} ms`)
}

/** Clocks of one evaluation. */
export class Budget {
  readonly startedAt = performance.now()
  private guestMs = 0
  private segmentStart: number | undefined

  constructor(
    private readonly limits: SandboxLimits,
    private readonly signal?: AbortSignal,
    /** A second abort source the interrupt handler can read while the guest runs (a flag shared across threads). */
    private readonly aborted?: () => boolean,
  ) {}

  /** Guest code starts (or resumes) running. */
  resume(): void {
    this.segmentStart = performance.now()
  }

  /** Guest code stops running (it returned, or called into the host). */
  pause(): void {
    if (this.segmentStart !== undefined) this.guestMs += performance.now() - this.segmentStart
    this.segmentStart = undefined
  }

  /** Counts `ms` of guest CPU time spent before this budget existed (a script's top level run ahead of time). */
  carry(ms: number): void {
    this.guestMs += ms
  }

  /** Guest CPU time so far, in ms. */
  guestTime(): number {
    return this.guestMs + (this.segmentStart === undefined ? 0 : performance.now() - this.segmentStart)
  }

  /** Wall time since the evaluation started, in ms. */
  wallTime(): number {
    return performance.now() - this.startedAt
  }

  /** The budget the evaluation is past, if any. Called from the interrupt handler, so it must stay cheap. */
  exceeded(): SandboxErrorData | undefined {
    if (this.guestTime() > this.limits.timeoutMs) {
      return limitError('sandbox_timeout', `The script ran for more than ${this.limits.timeoutMs} ms of CPU time`)
    }
    if (this.wallTime() > this.limits.wallTimeoutMs) return wallTimeoutError(this.limits)
    if (this.signal?.aborted === true || this.aborted?.() === true) return abortedError()
    return undefined
  }
}
