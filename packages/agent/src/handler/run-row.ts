import type { HandlerRun, HandlerType, NewHandlerRun, RunPhase, RunStatus } from '@ledgerflow/db'

/** What a new run row is made of. */
export interface RunRowInput {
  id: string
  sessionId: string
  workflowId: string
  scriptId: string
  handlerType: HandlerType
  handlerName: string
  phase: RunPhase
  now: number
  /** Default `active`. */
  status?: RunStatus
  /** Default: the column's default (1). */
  attempt?: number
  retryAt?: number | null
  /** A continuation of this failed run: its prepare result and input state are carried over. */
  retryOf?: HandlerRun
}

/**
 * The row of a new run, without its ordinal (`runs.insertNext` takes the session's next one). Used for the runs a
 * session creates and for the continuation a checkpoint creates after a transient failure. Pure.
 */
export function runRow(input: RunRowInput): Omit<NewHandlerRun, 'ordinal'> {
  return {
    id: input.id,
    script_run_id: input.sessionId,
    workflow_id: input.workflowId,
    script_id: input.scriptId,
    handler_type: input.handlerType,
    handler_name: input.handlerName,
    phase: input.phase,
    status: input.status ?? 'active',
    ...(input.attempt === undefined ? {} : { attempt: input.attempt }),
    retry_at: input.retryAt ?? null,
    retry_of: input.retryOf?.id ?? null,
    prepare_result: input.retryOf?.prepare_result ?? null,
    input_state: input.retryOf?.input_state ?? null,
    output_state: null,
    error: null,
    error_type: null,
    start_timestamp: input.now,
    end_timestamp: null,
  }
}
