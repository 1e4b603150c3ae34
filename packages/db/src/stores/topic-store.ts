import type { Executor } from '../executor.js'
import type { Topic } from '../schema.js'

/** Topics of workflows. */
export interface TopicStore {
  /** Creates the named topics that do not exist yet (idempotent). `newId` gives ids for new rows. */
  ensure(workflowId: string, names: readonly string[], options: { now: number; newId: () => string }): Promise<void>
  getByName(workflowId: string, name: string): Promise<Topic | undefined>
  list(workflowId: string): Promise<Topic[]>
}

/** Creates the {@link TopicStore} over `db`. */
export function createTopicStore(db: Executor): TopicStore {
  return {
    async ensure(workflowId, names, { now, newId }) {
      const unique = [...new Set(names)]
      if (unique.length === 0) return
      await db
        .insertInto('topics')
        .values(unique.map((name) => ({ id: newId(), workflow_id: workflowId, name, created_at: now })))
        .onConflict((oc) => oc.columns(['workflow_id', 'name']).doNothing())
        .execute()
    },
    getByName(workflowId, name) {
      return db.selectFrom('topics').selectAll().where('workflow_id', '=', workflowId).where('name', '=', name).executeTakeFirst()
    },
    list(workflowId) {
      return db.selectFrom('topics').selectAll().where('workflow_id', '=', workflowId).orderBy('name').execute()
    },
  }
}
