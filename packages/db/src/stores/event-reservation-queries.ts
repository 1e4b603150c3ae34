/**
 * The statements of `EventStore` that reserve events for a run and settle what a run reserved: the all-or-nothing
 * reservation (lock the rows, then reserve them under a count guard), the one-event reservation that `runs.prepare`
 * also uses, and the consume, release and dead-letter updates of a run's reserved events, each compiled once per
 * dialect and shape (see `prepareQuery`).
 */
import { isSqlite } from '../dialects/detect.js'
import type { Executor } from '../executor.js'
import { prepareQuery, preparedFamily } from '../prepared-query.js'
import type { EventStatus } from '../schema.js'
import { topicIdOf } from './pick-view.js'

/** Reservable rows by number of message ids, compiled once per dialect (see `preparedFamily`). */
export const reservable = preparedFamily<{ id: string; message_id: string; status: EventStatus; reserved_by_run_id: string | null }>()

/**
 * The rows of a topic's events with these message ids (arguments: workflow, topic, the ids), locked FOR UPDATE on
 * PostgreSQL; SQLite's write transaction already excludes everyone.
 */
export function reservableQuery(db: Executor, ...args: unknown[]) {
  const [workflowId, topic, ...messageIds] = args as string[]
  const query = db
    .selectFrom('events')
    .select(['id', 'message_id', 'status', 'reserved_by_run_id'])
    .where('topic_id', '=', topicIdOf(db, workflowId!, topic!))
    .where('message_id', 'in', messageIds)
  return isSqlite(db) ? query : query.forUpdate()
}

/** The all-or-nothing reservation by number of events, compiled once per dialect (see `preparedFamily`). */
export const reserveAll = preparedFamily<unknown>()

/**
 * Reserves the events with these ids for a run (arguments: run, now, the ids), only if every one of them is still
 * pending: the count guard keeps even an impossible partial write from happening.
 */
export function reserveQuery(db: Executor, ...args: unknown[]) {
  const [runId, now, ...eventIds] = args as [string, number, ...string[]]
  return db
    .updateTable('events')
    .set({ status: 'reserved', reserved_by_run_id: runId, updated_at: now })
    .where('id', 'in', eventIds)
    .where('status', '=', 'pending')
    .where((eb) =>
      eb(
        eb.selectFrom('events as p').select((p) => p.fn.countAll<number>().as('n')).where('p.id', 'in', eventIds).where('p.status', '=', 'pending'),
        '=',
        eventIds.length,
      ),
    )
}

/** One event to reserve by its message id, for {@link reservePendingEvent}. */
export interface PendingReservation {
  workflowId: string
  topic: string
  messageId: string
  runId: string
  now: number
}

/**
 * The UPDATE that reserves one event by its message id for a run if it is pending: one statement, which changes one
 * row or none. Callers may guard it further (`runs.prepare` does, on the run).
 */
export function reservePendingEvent(db: Executor, { workflowId, topic, messageId, runId, now }: PendingReservation) {
  return db
    .updateTable('events')
    .set({ status: 'reserved', reserved_by_run_id: runId, updated_at: now })
    .where('topic_id', '=', topicIdOf(db, workflowId, topic))
    .where('message_id', '=', messageId)
    .where('status', '=', 'pending')
}

/** {@link reservePendingEvent}, compiled once per dialect (arguments: workflow, topic, message id, run, now). */
export const reserveOne = prepareQuery(5, (db, workflowId: string, topic: string, messageId: string, runId: string, now: number) =>
  reservePendingEvent(db, { workflowId, topic, messageId, runId, now }),
)

/** Marks a run's reserved events consumed (its next phase committed); compiled once per dialect. */
export const consumeReserved = prepareQuery(2, (db, now: number, runId: string) =>
  db.updateTable('events').set({ status: 'consumed', updated_at: now }).where('reserved_by_run_id', '=', runId).where('status', '=', 'reserved'),
)

/** Of a failed run's reserved events, those out of attempts become dead; compiled once per dialect. */
export const killExhausted = prepareQuery(3, (db, now: number, runId: string, maxAttempts: number) =>
  db
    .updateTable('events')
    .set({ status: 'dead', updated_at: now })
    .where('reserved_by_run_id', '=', runId)
    .where('status', '=', 'reserved')
    .where('attempt_number', '>=', maxAttempts),
)

/** A failed run's other reserved events go back to pending, one attempt more; compiled once per dialect. */
export const releaseReserved = prepareQuery(2, (db, now: number, runId: string) =>
  db
    .updateTable('events')
    .set((eb) => ({ status: 'pending', reserved_by_run_id: null, attempt_number: eb('attempt_number', '+', 1), updated_at: now }))
    .where('reserved_by_run_id', '=', runId)
    .where('status', '=', 'reserved'),
)
