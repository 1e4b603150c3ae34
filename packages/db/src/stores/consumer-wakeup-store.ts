import { sql } from 'kysely'
import { isSqlite } from '../dialects/detect.js'
import type { Executor } from '../executor.js'
import { prepareQuery } from '../prepared-query.js'
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

/** Compiled once per dialect (see `prepareQuery`): read before every consumer run. */
const wakeupsOf = prepareQuery(1, (db, workflowId: string) =>
  db.selectFrom('consumer_wakeups').selectAll().where('workflow_id', '=', workflowId).orderBy('consumer_name'),
)

/** Creates the {@link ConsumerWakeupStore} over `db`. */
export function createConsumerWakeupStore(db: Executor): ConsumerWakeupStore {
  return {
    list(workflowId) {
      return wakeupsOf.rows(db, workflowId)
    },
    async set(workflowId, consumerName, { idleAfterSequence, wakeAt, now }) {
      const row = { workflow_id: workflowId, consumer_name: consumerName, idle_after_sequence: idleAfterSequence, wake_at: wakeAt, updated_at: now }
      if (!isSqlite(db)) {
        // One round trip: the upsert runs as a data-modifying CTE. The UPDATE cannot see the CTE's row (one snapshot),
        // so the earliest wake-up is taken over the other consumers' rows plus the new value.
        await db
          .with('upserted', (qb) =>
            qb
              .insertInto('consumer_wakeups')
              .values(row)
              .onConflict((oc) => oc.columns(['workflow_id', 'consumer_name']).doUpdateSet({ idle_after_sequence: idleAfterSequence, wake_at: wakeAt, updated_at: now }))
              .returning('workflow_id'),
          )
          .updateTable('workflows')
          .set({
            consumer_sleep_until: sql<number | null>`(select min(w) from (select wake_at as w from consumer_wakeups where workflow_id = ${workflowId} and consumer_name <> ${consumerName} union all select cast(${wakeAt} as bigint)) as x)`,
          })
          .where('id', '=', workflowId)
          .execute()
        return
      }
      await db
        .insertInto('consumer_wakeups')
        .values(row)
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
