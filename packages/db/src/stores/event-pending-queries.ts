/**
 * The statements of `EventStore` that read a topic's pending events: the oldest pending events (every prepare phase
 * peeks) and the pending bounds of a workflow's topics (the scheduler asks before every consumer run), each compiled
 * once per dialect and shape (see `prepareQuery`).
 */
import type { Executor } from '../executor.js'
import { prepareQuery, preparedFamily } from '../prepared-query.js'
import { oldestPendingQuery, pendingSequence } from './pick-view.js'

/** {@link oldestPendingQuery}, compiled once per dialect (see `prepareQuery`): every prepare phase peeks. */
export const pendingOf = prepareQuery(3, (db, workflowId: string, topic: string, limit: number) => oldestPendingQuery(db, { workflowId, topic, limit }))

/** The oldest and newest pending sequence of each of a workflow's `topics` (names, no duplicates). */
export function pendingBoundsQuery(db: Executor, workflowId: string, topics: readonly string[]) {
  return db
    .selectFrom('topics as t')
    .select((eb) => ['t.name as topic', pendingSequence(eb, 'min').as('oldest'), pendingSequence(eb, 'max').as('newest')])
    .where('t.workflow_id', '=', workflowId)
    .where('t.name', 'in', topics)
}

/** {@link pendingBoundsQuery} by number of topics, compiled once per dialect: the scheduler asks before every consumer run. */
export const pendingBounds = preparedFamily<{ topic: string; oldest: number | string | null; newest: number | string | null }>()
