import type { Executor } from '../executor.js'
import type { NewScript, Script } from '../schema.js'

/** Reads and inserts of `scripts` (script versions never change once written). */
export interface ScriptStore {
  insert(row: NewScript): Promise<void>
  get(id: string): Promise<Script | undefined>
  /** The highest version of a workflow's scripts, 0 when there is none. */
  latestVersion(workflowId: string): Promise<number>
  listByWorkflow(workflowId: string): Promise<Script[]>
}

/** Creates the {@link ScriptStore} over `db`. */
export function createScriptStore(db: Executor): ScriptStore {
  return {
    async insert(row) {
      await db.insertInto('scripts').values(row).execute()
    },
    get(id) {
      return db.selectFrom('scripts').selectAll().where('id', '=', id).executeTakeFirst()
    },
    async latestVersion(workflowId) {
      const row = await db
        .selectFrom('scripts')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('workflow_id', '=', workflowId)
        .executeTakeFirst()
      return Number(row?.v ?? 0)
    },
    listByWorkflow(workflowId) {
      return db.selectFrom('scripts').selectAll().where('workflow_id', '=', workflowId).orderBy('version').execute()
    },
  }
}
