import { type Executor, affected } from '../executor.js'
import { prepareQuery } from '../prepared-query.js'
import type { ErrorType, NewWorkflow, Workflow, WorkflowStatus } from '../schema.js'
import { type PickView, readPickView } from './pick-view.js'

/** Options of {@link WorkflowStore.transitionStatus}. */
export interface WorkflowStatusChange {
  /** The transition applies only when the current status is one of these. */
  from: readonly WorkflowStatus[]
  to: WorkflowStatus
  /** Error text and class; `null` clears them. Omitted: left as they are. */
  error?: string | null
  errorType?: ErrorType | null
  now: number
}

/** What {@link WorkflowStore.setActiveScript} writes. */
export interface SetActiveScriptRequest {
  /** The workflow. */
  id: string
  /** The script version to point it at. */
  scriptId: string
  /** That version's handler config (JSON text), copied to the workflow. */
  handlerConfig: string
  now: number
}

/** Reads and guarded writes of `workflows`. */
export interface WorkflowStore {
  insert(row: NewWorkflow): Promise<void>
  get(id: string): Promise<Workflow | undefined>
  /**
   * What choosing the workflow's next consumer reads, in one statement: its status, the pending
   * bounds of `topics`, its consumers' wake-up rows and the states of `handlers` (see {@link PickView}).
   */
  pickView(id: string, topics: readonly string[], handlers?: readonly string[]): Promise<PickView>
  list(filter?: { status?: WorkflowStatus }): Promise<Workflow[]>
  /** Compare-and-set on the status; returns whether it applied. */
  transitionStatus(id: string, change: WorkflowStatusChange): Promise<boolean>
  /** Points the workflow at a script version and copies its handler config. Returns whether the workflow exists. */
  setActiveScript(request: SetActiveScriptRequest): Promise<boolean>
  setTitle(id: string, title: string, now: number): Promise<boolean>
  /**
   * Hands out `count` event sequence numbers, returning the first. On PostgreSQL this locks the workflow row
   * until the transaction ends, so sequences follow commit order.
   */
  allocateEventSequence(id: string, count: number): Promise<number>
}

/** Compiled once per dialect (see `prepareQuery`): the engine reads its workflow before every phase. */
const workflowById = prepareQuery(1, (db, id: string) => db.selectFrom('workflows').selectAll().where('id', '=', id))

/** Creates the {@link WorkflowStore} over `db` (the database or a transaction). */
export function createWorkflowStore(db: Executor): WorkflowStore {
  return {
    async insert(row) {
      await db.insertInto('workflows').values(row).execute()
    },
    get(id) {
      return workflowById.first(db, id)
    },
    pickView(id, topics, handlers) {
      return readPickView(db, { workflowId: id, topics, handlers: handlers ?? [] })
    },
    list(filter = {}) {
      let q = db.selectFrom('workflows').selectAll()
      if (filter.status) q = q.where('status', '=', filter.status)
      return q.orderBy('created_at').orderBy('id').execute()
    },
    async transitionStatus(id, change) {
      if (change.from.length === 0) return false
      const result = await db
        .updateTable('workflows')
        .set({
          status: change.to,
          updated_at: change.now,
          ...(change.error !== undefined ? { error: change.error } : {}),
          ...(change.errorType !== undefined ? { error_type: change.errorType } : {}),
        })
        .where('id', '=', id)
        .where('status', 'in', change.from)
        .executeTakeFirst()
      return affected(result) === 1
    },
    async setActiveScript({ id, scriptId, handlerConfig, now }) {
      const result = await db
        .updateTable('workflows')
        .set({ active_script_id: scriptId, handler_config: handlerConfig, updated_at: now })
        .where('id', '=', id)
        .executeTakeFirst()
      return affected(result) === 1
    },
    async setTitle(id, title, now) {
      const result = await db.updateTable('workflows').set({ title, updated_at: now }).where('id', '=', id).executeTakeFirst()
      return affected(result) === 1
    },
    async allocateEventSequence(id, count) {
      const row = await db
        .updateTable('workflows')
        .set((eb) => ({ event_sequence: eb('event_sequence', '+', count) }))
        .where('id', '=', id)
        .returning('event_sequence')
        .executeTakeFirstOrThrow()
      return Number(row.event_sequence) - count + 1
    },
  }
}
