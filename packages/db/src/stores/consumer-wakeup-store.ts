import type { Executor } from '../executor.js'
import type { ConsumerWakeup } from '../schema.js'

/** Per-consumer wake-up state; keeps `workflows.consumer_sleep_until` equal to the earliest `wake_at`. */
export interface ConsumerWakeupStore {
  list(workflowId: string): Promise<ConsumerWakeup[]>
  /** Sets (or clears, with nulls) a consumer's idle marker and wake time. */
  set(
    workflowId: string,
    consumerName: string,
    value: { idleAfterSequence: number | null; wakeAt: number | null; now: number },
  ): Promise<void>
}

/** Creates the {@link ConsumerWakeupStore} over `db`. */
export function createConsumerWakeupStore(db: Executor): ConsumerWakeupStore {
  return {
    list(workflowId) {
      return db.selectFrom('consumer_wakeups').selectAll().where('workflow_id', '=', workflowId).orderBy('consumer_name').execute()
    },
    async set(workflowId, consumerName, { idleAfterSequence, wakeAt, now }) {
      await db
        .insertInto('consumer_wakeups')
        .values({
          workflow_id: workflowId,
          consumer_name: consumerName,
          idle_after_sequence: idleAfterSequence,
          wake_at: wakeAt,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc
            .columns(['workflow_id', 'consumer_name'])
            .doUpdateSet({ idle_after_sequence: idleAfterSequence, wake_at: wakeAt, updated_at: now }),
        )
        .execute()
      await db
        .updateTable('workflows')
        .set((eb) => ({
          consumer_sleep_until: eb
            .selectFrom('consumer_wakeups')
            .select((s) => s.fn.min('wake_at').as('m'))
            .where('workflow_id', '=', workflowId),
        }))
        .where('id', '=', workflowId)
        .execute()
    },
  }
}
