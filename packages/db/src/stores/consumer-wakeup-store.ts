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

/** A consumer's wake-up row as {@link upsertWakeupQuery} writes it. */
interface WakeupRow {
  workflowId: string
  consumerName: string
  idleAfterSequence: number | null
  wakeAt: number | null
  now: number
}

/** Inserts or replaces a consumer's wake-up row (every consumer run ends with it). */
function upsertWakeupQuery(db: Executor, { workflowId, consumerName, idleAfterSequence, wakeAt, now }: WakeupRow) {
  return db
    .insertInto('consumer_wakeups')
    .values({ workflow_id: workflowId, consumer_name: consumerName, idle_after_sequence: idleAfterSequence, wake_at: wakeAt, updated_at: now })
    .onConflict((oc) => oc.columns(['workflow_id', 'consumer_name']).doUpdateSet({ idle_after_sequence: idleAfterSequence, wake_at: wakeAt, updated_at: now }))
}
const upsertWakeup = prepareQuery(
  5,
  (db, workflowId: string, consumerName: string, idleAfterSequence: number | null, wakeAt: number | null, now: number) =>
    upsertWakeupQuery(db, { workflowId, consumerName, idleAfterSequence, wakeAt, now }),
)

/** SQLite: the workflow sleeps until its consumers' earliest wake-up (the statement after the upsert). */
const updateSleep = prepareQuery(1, (db, workflowId: string) =>
  db
    .updateTable('workflows')
    .set((eb) => ({
      consumer_sleep_until: eb.selectFrom('consumer_wakeups').select((s) => s.fn.min('wake_at').as('m')).where('workflow_id', '=', workflowId),
    }))
    .where('id', '=', workflowId),
)

/**
 * PostgreSQL: the workflow's sleep (its consumers' earliest wake-up) in a statement whose data-modifying CTE writes
 * `consumerName`'s row: that row is not visible to the statement (one snapshot), so the expression takes the other
 * consumers' rows plus the new value.
 */
export function sleepAfterWakeupWrite(workflowId: string, consumerName: string, wakeAt: number | null) {
  return sql<number | null>`(select min(w) from (select wake_at as w from consumer_wakeups where workflow_id = ${workflowId} and consumer_name <> ${consumerName} union all select cast(${wakeAt} as bigint)) as x)`
}

/**
 * PostgreSQL, one round trip: the upsert runs as a data-modifying CTE. The UPDATE cannot see the CTE's row (one
 * snapshot), so the earliest wake-up is taken over the other consumers' rows plus the new value.
 */
const upsertAndUpdateSleep = prepareQuery(
  5,
  (db, workflowId: string, consumerName: string, idleAfterSequence: number | null, wakeAt: number | null, now: number) =>
    db
      .with('upserted', () => upsertWakeupQuery(db, { workflowId, consumerName, idleAfterSequence, wakeAt, now }).returning('workflow_id'))
      .updateTable('workflows')
      .set({ consumer_sleep_until: sleepAfterWakeupWrite(workflowId, consumerName, wakeAt) })
      .where('id', '=', workflowId),
)

/** Creates the {@link ConsumerWakeupStore} over `db`. */
export function createConsumerWakeupStore(db: Executor): ConsumerWakeupStore {
  return {
    list(workflowId) {
      return wakeupsOf.rows(db, workflowId)
    },
    async set(workflowId, consumerName, { idleAfterSequence, wakeAt, now }) {
      if (!isSqlite(db)) {
        await upsertAndUpdateSleep.execute(db, workflowId, consumerName, idleAfterSequence, wakeAt, now)
        return
      }
      await upsertWakeup.execute(db, workflowId, consumerName, idleAfterSequence, wakeAt, now)
      await updateSleep.execute(db, workflowId)
    },
  }
}
