import type { Executor } from '../executor.js'
import { prepareQuery } from '../prepared-query.js'
import type { HandlerState } from '../schema.js'

/** Persistent state of each handler, one row per (workflow, handler). */
export interface HandlerStateStore {
  get(workflowId: string, handlerName: string): Promise<HandlerState | undefined>
  listByWorkflow(workflowId: string): Promise<HandlerState[]>
  /** Inserts or replaces the state. */
  put(row: { workflowId: string; handlerName: string; state: string | null; runId: string | null; now: number }): Promise<void>
}

/** Compiled once per dialect (see `prepareQuery`): every prepare phase reads its handler's state. */
const stateOf = prepareQuery(2, (db, workflowId: string, handlerName: string) =>
  db.selectFrom('handler_state').selectAll().where('workflow_id', '=', workflowId).where('handler_name', '=', handlerName),
)

/** Inserts or replaces a handler's state (every next phase does); compiled once per dialect. */
const putState = prepareQuery(5, (db, workflowId: string, handlerName: string, state: string | null, now: number, runId: string | null) =>
  db
    .insertInto('handler_state')
    .values({ workflow_id: workflowId, handler_name: handlerName, state, updated_at: now, updated_by_run_id: runId })
    .onConflict((oc) => oc.columns(['workflow_id', 'handler_name']).doUpdateSet({ state, updated_at: now, updated_by_run_id: runId })),
)

/** Creates the {@link HandlerStateStore} over `db`. */
export function createHandlerStateStore(db: Executor): HandlerStateStore {
  return {
    get(workflowId, handlerName) {
      return stateOf.first(db, workflowId, handlerName)
    },
    listByWorkflow(workflowId) {
      return db.selectFrom('handler_state').selectAll().where('workflow_id', '=', workflowId).orderBy('handler_name').execute()
    },
    async put({ workflowId, handlerName, state, runId, now }) {
      await putState.execute(db, workflowId, handlerName, state, now, runId)
    },
  }
}
