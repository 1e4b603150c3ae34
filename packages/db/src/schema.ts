/**
 * The database shape: one interface per table of SPEC §3, named as there. This file is the only place the DB
 * shape lives; stores return the `Selectable` row types below.
 *
 * Conventions:
 * - timestamps are integer milliseconds from the engine's injectable clock;
 * - ids are opaque text from the engine's injectable generator;
 * - JSON columns hold JSON text (`JsonText`) and are parsed, with zod, by the code that owns their shape;
 * - enum columns hold lowercase strings and are CHECKed by the migrations.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** JSON text as stored in a column. Parse it with {@link readJsonColumn}. */
export type JsonText = string

/**
 * What the operator set for a workflow, except `error` and `paused`, which the engine also sets (SPEC §8).
 * - `draft`: created, not scheduled.
 * - `active`: scheduled and runnable.
 * - `paused`: held by the operator, or by the engine because a run needs a person (auth, indeterminate outcome).
 * - `error`: needs a script fix or an operator action.
 * - `archived`: retired; never runs.
 */
export type WorkflowStatus = 'draft' | 'active' | 'paused' | 'error' | 'archived'

/** Error classes (SPEC §8), plus `indeterminate` for an unknown mutation outcome. */
export type ErrorType = 'auth' | 'permission' | 'network' | 'logic' | 'internal' | 'indeterminate'

/**
 * Why a session was opened.
 * - `schedule`: producers were due.
 * - `manual`: an operator ran the workflow; every producer runs.
 * - `event`: pending events or a consumer's `wakeAt`; no producer runs.
 * - `retry`: a backoff finished or an operator retried after a fix; no producer runs.
 */
export type SessionTrigger = 'schedule' | 'manual' | 'event' | 'retry'

/**
 * - `running`: open (exactly when `end_timestamp` is null).
 * - `completed`: finished normally, possibly with `budget_exhausted`.
 * - `failed`: stopped by a failed run; the workflow is in `error`.
 * - `suspended`: stopped by a run that waits (transient retry) or needs a person (paused).
 */
export type SessionStatus = 'running' | 'completed' | 'failed' | 'suspended'

/** Which session budget ran out. */
export type BudgetKind = 'iterations' | 'cost' | 'time'

/** The two kinds of handler. */
export type HandlerType = 'producer' | 'consumer'

/**
 * Position of a run in its state machine; only moves forward.
 * - `pending`: created, nothing done.
 * - `executing`: (producer) the handler runs or is about to.
 * - `preparing`: (consumer) `prepare` runs or is about to.
 * - `prepared`: (consumer) prepare result and reservations are committed.
 * - `mutating`: (consumer) a ledger row exists; its status says what happened.
 * - `mutated`: (consumer) the mutation step is settled (applied, none or skipped).
 * - `emitting`: (consumer) `next` runs or is about to.
 * - `committed`: done.
 */
export type RunPhase =
  | 'pending'
  | 'executing'
  | 'preparing'
  | 'prepared'
  | 'mutating'
  | 'mutated'
  | 'emitting'
  | 'committed'

/**
 * Why a run is (not) moving.
 * - `active`: moving, or interrupted by a crash and resumable.
 * - `waiting`: a transient retry is scheduled at `retry_at`.
 * - `paused`: needs a person (auth, permission, unknown mutation outcome).
 * - `failed`: needs a script fix or an operator.
 * - `committed`: finished successfully.
 */
export type RunStatus = 'active' | 'waiting' | 'paused' | 'failed' | 'committed'

/**
 * State of a ledger row.
 * - `pending`: recorded, not sent.
 * - `in_flight`: durably recorded before the external call; the call may have happened.
 * - `applied`: the tool reported success; never changes again.
 * - `failed`: definitely did not happen.
 * - `indeterminate`: unknown; parked for a person.
 * - `skipped`: an operator chose to skip an unknown outcome.
 */
export type MutationStatus = 'pending' | 'in_flight' | 'applied' | 'failed' | 'indeterminate' | 'skipped'

/**
 * - `pending`: available to consumers.
 * - `reserved`: held by one consumer run (`reserved_by_run_id`).
 * - `consumed`: the run that held it committed.
 * - `skipped`: an operator skipped it (or the mutation that used it).
 * - `dead`: released more than `maxAttempts` times; requeue to retry.
 */
export type EventStatus = 'pending' | 'reserved' | 'consumed' | 'skipped' | 'dead'

/** Levels of run log lines (the script's `console.*` and the engine's own notes). */
export type LogLevel = 'log' | 'info' | 'warn' | 'error'

/** Kinds of producer schedule. */
export type ScheduleKind = 'interval' | 'cron'

export interface WorkflowTable {
  id: string
  title: string
  status: WorkflowStatus
  active_script_id: string | null
  /** JSON `HandlerConfig` of the active script. */
  handler_config: JsonText | null
  error: string | null
  error_type: ErrorType | null
  /** Earliest `wake_at` of the workflow's consumers (denormalised from `consumer_wakeups`). */
  consumer_sleep_until: number | null
  /** Last event sequence number handed out for this workflow (monotonic, commit order). */
  event_sequence: Generated<number>
  created_at: number
  updated_at: number
}

export interface ScriptTable {
  id: string
  workflow_id: string
  version: number
  code: string
  handler_config: JsonText
  created_at: number
}

/** Sessions (`script_runs` in SPEC §3). */
export interface ScriptRunTable {
  id: string
  workflow_id: string
  script_id: string
  trigger: SessionTrigger
  status: SessionStatus
  error: string | null
  error_type: ErrorType | null
  budget_exhausted: BudgetKind | null
  handler_run_count: Generated<number>
  /** Microdollars: the sum of the session's run costs, written when the session closes. */
  cost: Generated<number>
  /** JSON array of the producer names this session runs, fixed when it opens (recovery runs the rest). */
  producers: JsonText
  max_iterations: number
  max_cost_microdollars: number | null
  max_duration_ms: number | null
  start_timestamp: number
  end_timestamp: number | null
  owner: string | null
  lease_expires_at: number | null
}

export interface HandlerRunTable {
  id: string
  script_run_id: string
  workflow_id: string
  /** The script version this run is pinned to. */
  script_id: string
  handler_type: HandlerType
  handler_name: string
  /** 1-based position of the run in its session. */
  ordinal: number
  phase: RunPhase
  status: RunStatus
  /** Attempt number of the current phase (transient retries), from 1. */
  attempt: Generated<number>
  retry_at: number | null
  /** The run this one retries (operator retry after a fix, or a resumed mutation). */
  retry_of: string | null
  prepare_result: JsonText | null
  input_state: JsonText | null
  output_state: JsonText | null
  error: string | null
  error_type: ErrorType | null
  /** Microdollars reported by tools through `ctx.addCost`. */
  cost: Generated<number>
  start_timestamp: number
  end_timestamp: number | null
}

export interface RunLogTable {
  handler_run_id: string
  sequence: number
  timestamp: number
  phase: string
  level: LogLevel
  message: string
}

/** The mutation ledger: at most one row per run. */
export interface MutationTable {
  id: string
  handler_run_id: string
  workflow_id: string
  tool_namespace: string
  tool_method: string
  params: JsonText
  idempotency_key: string
  status: MutationStatus
  result: JsonText | null
  /** JSON `SerializedError` of a failed or unknown call. */
  error: JsonText | null
  error_type: ErrorType | null
  ui_title: string | null
  reconcile_attempts: Generated<number>
  next_reconcile_at: number | null
  resolved_by: string | null
  resolved_at: number | null
  created_at: number
  updated_at: number
}

export interface HandlerStateTable {
  workflow_id: string
  handler_name: string
  state: JsonText | null
  updated_at: number
  updated_by_run_id: string | null
}

export interface TopicTable {
  id: string
  workflow_id: string
  name: string
  created_at: number
}

export interface EventTable {
  id: string
  topic_id: string
  workflow_id: string
  message_id: string
  title: string
  payload: JsonText
  status: EventStatus
  /** The run holding the event; kept after `consumed`/`skipped` as a record of who used it. */
  reserved_by_run_id: string | null
  created_by_run_id: string | null
  attempt_number: Generated<number>
  /** Monotonic per workflow, in commit order; the only ordering of events. */
  sequence: number
  created_at: number
  updated_at: number
}

export interface ProducerScheduleTable {
  workflow_id: string
  producer_name: string
  kind: ScheduleKind
  expression: string
  timezone: string | null
  next_run_at: number
  last_run_at: number | null
  updated_at: number
}

/** Per-consumer wake-up state: when a consumer declined its pending events, and when it asked to be woken. */
export interface ConsumerWakeupTable {
  workflow_id: string
  consumer_name: string
  /** The consumer is not eligible for pending events with `sequence <= idle_after_sequence`. */
  idle_after_sequence: number | null
  wake_at: number | null
  updated_at: number
}

/** The kysely database interface. */
export interface Database {
  workflows: WorkflowTable
  scripts: ScriptTable
  script_runs: ScriptRunTable
  handler_runs: HandlerRunTable
  run_logs: RunLogTable
  mutations: MutationTable
  handler_state: HandlerStateTable
  topics: TopicTable
  events: EventTable
  producer_schedules: ProducerScheduleTable
  consumer_wakeups: ConsumerWakeupTable
}

export type Workflow = Selectable<WorkflowTable>
export type NewWorkflow = Insertable<WorkflowTable>
export type WorkflowUpdate = Updateable<WorkflowTable>
export type Script = Selectable<ScriptTable>
export type NewScript = Insertable<ScriptTable>
export type Session = Selectable<ScriptRunTable>
export type NewSession = Insertable<ScriptRunTable>
export type HandlerRun = Selectable<HandlerRunTable>
export type NewHandlerRun = Insertable<HandlerRunTable>
export type HandlerRunUpdate = Updateable<HandlerRunTable>
export type RunLog = Selectable<RunLogTable>
export type NewRunLog = Insertable<RunLogTable>
export type Mutation = Selectable<MutationTable>
export type NewMutation = Insertable<MutationTable>
export type MutationUpdate = Updateable<MutationTable>
export type HandlerState = Selectable<HandlerStateTable>
export type Topic = Selectable<TopicTable>
export type Event = Selectable<EventTable>
export type ProducerSchedule = Selectable<ProducerScheduleTable>
export type ConsumerWakeup = Selectable<ConsumerWakeupTable>

/** Helper for columns whose select type differs from insert/update (kept for future migrations). */
export type Column<S, I = S, U = I> = ColumnType<S, I, U>

/** Runs that are not finished: at most one per workflow (enforced by a partial unique index). */
export const UNFINISHED_RUN_STATUSES = ['active', 'waiting', 'paused'] as const satisfies readonly RunStatus[]
