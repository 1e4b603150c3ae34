/**
 * Row builders and seeders for tests: a workflow with an active script and topics, an open session, runs in any
 * state, a ledger row and published events. Builders return rows that satisfy every constraint, so a test that
 * changes one column knows that column is why an insert fails.
 */
import type {
  NewHandlerRun,
  NewMutation,
  NewScript,
  NewSession,
  NewWorkflow,
  PublishOutcome,
  RunPhase,
  RunStatus,
  Stores,
} from '../index.js'
import { UNFINISHED_RUN_STATUSES } from '../index.js'

/** The fixed "now" of tests: timestamps are plain numbers, never the wall clock. */
export const NOW = 1_700_000_000_000

/** The topic every seeded workflow has unless told otherwise. */
export const TOPIC = 'inbox'

/** Ids of a seeded workflow and its active script. */
export interface SeededWorkflow {
  workflowId: string
  scriptId: string
}

/** Ids of a seeded workflow with an open session and one active consumer run. */
export interface World extends SeededWorkflow {
  sessionId: string
  runId: string
}

export function workflowRow(id: string, over: Partial<NewWorkflow> = {}): NewWorkflow {
  return {
    id,
    title: `Workflow ${id}`,
    status: 'active',
    active_script_id: null,
    handler_config: null,
    error: null,
    error_type: null,
    consumer_sleep_until: null,
    created_at: NOW,
    updated_at: NOW,
    ...over,
  }
}

export function scriptRow(workflowId: string, id: string, over: Partial<NewScript> = {}): NewScript {
  return {
    id,
    workflow_id: workflowId,
    version: 1,
    code: 'const workflow = {}',
    handler_config: '{"topics":[]}',
    created_at: NOW,
    ...over,
  }
}

/** An open (running) session row. */
export function sessionRow(w: SeededWorkflow, id: string, over: Partial<NewSession> = {}): NewSession {
  return {
    id,
    workflow_id: w.workflowId,
    script_id: w.scriptId,
    trigger: 'manual',
    status: 'running',
    error: null,
    error_type: null,
    budget_exhausted: null,
    producers: '[]',
    max_iterations: 10,
    max_cost_microdollars: null,
    max_duration_ms: null,
    start_timestamp: NOW,
    end_timestamp: null,
    owner: 'worker-1',
    lease_expires_at: NOW + 30_000,
    ...over,
  }
}

/** The columns a session needs to be closed with `status` (open iff running). */
export function sessionState(status: NewSession['status']): Partial<NewSession> {
  return status === 'running' ? { status, end_timestamp: null } : { status, end_timestamp: NOW + 1 }
}

/** A run row; by default an active consumer in `preparing`. */
export function runRow(
  w: SeededWorkflow & { sessionId: string },
  id: string,
  over: Partial<NewHandlerRun> = {},
): NewHandlerRun {
  return {
    id,
    script_run_id: w.sessionId,
    workflow_id: w.workflowId,
    script_id: w.scriptId,
    handler_type: 'consumer',
    handler_name: 'reply',
    ordinal: 1,
    phase: 'preparing',
    status: 'active',
    retry_at: null,
    retry_of: null,
    prepare_result: null,
    input_state: null,
    output_state: null,
    error: null,
    error_type: null,
    start_timestamp: NOW,
    end_timestamp: null,
    ...over,
  }
}

/**
 * The columns a run needs to be in `status` consistently with the CHECKs: committed iff phase committed, waiting
 * has a retry time, finished iff it has an end time.
 */
export function runState(status: RunStatus, phase: RunPhase = status === 'committed' ? 'committed' : 'prepared'): Partial<NewHandlerRun> {
  const finished = !(UNFINISHED_RUN_STATUSES as readonly string[]).includes(status)
  return {
    status,
    phase,
    retry_at: status === 'waiting' ? NOW + 1_000 : null,
    end_timestamp: finished ? NOW + 1 : null,
  }
}

export function mutationRow(
  w: { workflowId: string; runId: string },
  id: string,
  over: Partial<NewMutation> = {},
): NewMutation {
  return {
    id,
    handler_run_id: w.runId,
    workflow_id: w.workflowId,
    tool_namespace: 'Email',
    tool_method: 'send',
    params: '{"to":"alice@example.com"}',
    idempotency_key: `idem-${id}`,
    status: 'pending',
    result: null,
    error: null,
    error_type: null,
    ui_title: 'Reply to alice',
    next_reconcile_at: null,
    resolved_by: null,
    resolved_at: null,
    created_at: NOW,
    updated_at: NOW,
    ...over,
  }
}

let idCounter = 0
/** Ids for rows created by `topics.ensure`. */
export const newId = (): string => `id-${++idCounter}-${Math.random().toString(36).slice(2, 8)}`

/** A workflow (status `active`) with script version 1 activated and the given topics. */
export async function seedWorkflow(
  db: Stores,
  workflowId = 'wf-1',
  options: { topics?: readonly string[]; status?: NewWorkflow['status'] } = {},
): Promise<SeededWorkflow> {
  const scriptId = `${workflowId}-script-1`
  await db.workflows.insert(workflowRow(workflowId, { status: options.status ?? 'active' }))
  await db.scripts.insert(scriptRow(workflowId, scriptId))
  await db.workflows.setActiveScript({ id: workflowId, scriptId, handlerConfig: '{"topics":[]}', now: NOW })
  await db.topics.ensure(workflowId, options.topics ?? [TOPIC], { now: NOW, newId })
  return { workflowId, scriptId }
}

/** Inserts a session row (open unless `over` says otherwise); returns its id. */
export async function seedSession(
  db: Stores,
  w: SeededWorkflow,
  id = `${w.workflowId}-session-1`,
  over: Partial<NewSession> = {},
): Promise<string> {
  await db.kysely.insertInto('script_runs').values(sessionRow(w, id, over)).execute()
  return id
}

/** Inserts a run row (an active consumer in `preparing` unless `over` says otherwise); returns its id. */
export async function seedRun(
  db: Stores,
  w: SeededWorkflow & { sessionId: string },
  id: string,
  over: Partial<NewHandlerRun> = {},
): Promise<string> {
  await db.runs.insert(runRow(w, id, over))
  return id
}

/** A workflow with an open session and one active consumer run in `preparing`. */
export async function seedWorld(
  db: Stores,
  workflowId = 'wf-1',
  options: { topics?: readonly string[] } = {},
): Promise<World> {
  const w = await seedWorkflow(db, workflowId, options)
  const sessionId = await seedSession(db, w)
  const runId = await seedRun(db, { ...w, sessionId }, `${workflowId}-run-1`)
  return { ...w, sessionId, runId }
}

/** {@link seedWorld} `wf-1` with pending events: inbox m1..m4 (sequences 1-4), other o1, o2 (5, 6), empty: none. */
export async function seedPendingWorld(db: Stores): Promise<World> {
  const w = await seedWorld(db, 'wf-1', { topics: [TOPIC, 'other', 'empty'] })
  await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3', 'm4'])
  await publishEvents(db, 'wf-1', ['o1', 'o2'], { topic: 'other' })
  return w
}

/** Publishes one event per message id (id `<workflow>:<topic>:<messageId>`), all at `now`. */
export function publishEvents(
  db: Stores,
  workflowId: string,
  messageIds: readonly string[],
  options: { topic?: string; now?: number; runId?: string | null } = {},
): Promise<PublishOutcome> {
  const topic = options.topic ?? TOPIC
  return db.events.publish(
    workflowId,
    messageIds.map((messageId) => ({
      id: `${workflowId}:${topic}:${messageId}`,
      topic,
      messageId,
      title: `Event ${messageId}`,
      payload: JSON.stringify({ messageId }),
      createdByRunId: options.runId ?? null,
    })),
    options.now ?? NOW,
  )
}

/** The id `publishEvents` gives an event. */
export function eventId(workflowId: string, messageId: string, topic = TOPIC): string {
  return `${workflowId}:${topic}:${messageId}`
}
