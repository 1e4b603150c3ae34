import type { BudgetKind, ErrorType, SessionTrigger } from '@ledgerflow/db'

/** Options of a session run. */
export interface SessionOptions {
  /** Why the session runs. Default `manual` (every producer runs). */
  trigger?: SessionTrigger
  /** Consumer-run budget. Default: the engine's `maxIterations` (100). */
  maxIterations?: number
  /** Stop starting consumer runs once the session has cost this much (microdollars). */
  maxCostMicrodollars?: number
  /** Stop starting consumer runs after this long (ms, from the session's start). */
  maxDurationMs?: number
}

/** How a session ended (SPEC §7.5). */
export interface SessionResult {
  sessionId: string
  status: 'completed' | 'failed' | 'suspended'
  /** The failure (failed sessions). */
  error?: string
  errorType?: ErrorType
  /** Why the session stopped early (suspended sessions): a paused or waiting run, an operator pause, a stop. */
  reason?: string
  /** Set when a budget ran out while work remained; the scheduler continues later. */
  budgetExhausted?: BudgetKind
}
