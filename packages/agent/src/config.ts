import type { SandboxLimits } from '@ledgerflow/sandbox'

/** Transient-retry policy (network errors): exponential backoff with jitter, persisted on the run. */
export interface RetryPolicy {
  /** Attempts of one phase before the run fails. Default 5. */
  maxAttempts: number
  /** Delay before the second attempt, in ms. Default 1000. */
  baseDelayMs: number
  /** Upper bound of any delay, in ms. Default 300000. */
  maxDelayMs: number
}

/** Engine limits and policies, frozen at construction. */
export interface EngineConfig {
  /** Owner id written on session leases. */
  workerId: string
  /** Lease duration of a session in ms; renewed while the session runs. Default 60000. */
  leaseMs: number
  retry: RetryPolicy
  /** Reconciliation attempts of an unknown mutation outcome before it becomes indeterminate. Default 3. */
  reconcileAttempts: number
  /** Releases of an event before it becomes `dead`. Default 5. */
  maxEventAttempts: number
  /** Default consumer-run budget of a session. Default 100. */
  maxIterations: number
  /** Log lines kept per run. Default 1000. */
  maxLogLinesPerRun: number
  /** Largest event payload (JSON bytes). Default 256 KiB. */
  maxPayloadBytes: number
  /** Largest handler state (JSON bytes). Default 1 MiB. */
  maxStateBytes: number
  /** Most events one run may publish. Default 1000. */
  maxPublishesPerRun: number
  /**
   * Start a phase's evaluation while the checkpoint before it commits (default true): after `prepare`, the `mutate`
   * (or `next`) evaluation runs in the sandbox during the commit, and its tool calls wait until the commit applied
   * and the run's checks passed. A run that goes another way abandons that evaluation, and nothing of it is kept.
   * The phase's wall-clock limit counts from the early start, so an evaluation that waited longer than a tenth of
   * that limit (a slow checkpoint) is dropped too, and the phase evaluated in its turn. Off: each evaluation starts
   * after its checkpoint.
   */
  headStart: boolean
  /** Per-phase sandbox limits. */
  sandbox: Partial<SandboxLimits>
}

/** Defaults of {@link EngineConfig} (except `workerId`). */
export const DEFAULT_CONFIG: Omit<EngineConfig, 'workerId'> = Object.freeze({
  leaseMs: 60_000,
  retry: Object.freeze({ maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 300_000 }),
  reconcileAttempts: 3,
  maxEventAttempts: 5,
  maxIterations: 100,
  maxLogLinesPerRun: 1000,
  maxPayloadBytes: 256 * 1024,
  maxStateBytes: 1024 * 1024,
  maxPublishesPerRun: 1000,
  headStart: true,
  sandbox: Object.freeze({}),
})
