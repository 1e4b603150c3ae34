import { NotFoundError, ReservationRejectedError } from '../errors.js'
import { type Executor, affected, inTransaction } from '../executor.js'
import type { Event, EventStatus } from '../schema.js'
import { pendingBounds, pendingBoundsQuery, pendingOf } from './event-pending-queries.js'
import { consumeReserved, killExhausted, releaseReserved, reservable, reservableQuery, reserveAll, reserveOne, reserveQuery } from './event-reservation-queries.js'
import { topicIdOf } from './pick-view.js'

/** One event to publish. */
export interface PublishInput {
  id: string
  topic: string
  messageId: string
  title: string
  /** JSON text. */
  payload: string
  createdByRunId: string | null
}

/** What a publish did: first write wins, so an existing messageId is a duplicate and changes nothing. */
export interface PublishOutcome {
  inserted: Array<{ id: string; topic: string; messageId: string; sequence: number }>
  duplicates: Array<{ topic: string; messageId: string }>
}

/** Ids to reserve in one topic. */
export interface Reservation {
  topic: string
  ids: readonly string[]
}

/** What {@link EventStore.reserve} reserves, for which run. */
export interface ReserveRequest {
  workflowId: string
  /** The run the events are reserved for. */
  runId: string
  /** The ids to reserve, by topic. */
  reservations: readonly Reservation[]
  now: number
}

/** Pending events of one topic. */
export interface PendingSummary {
  topic: string
  count: number
  /** Sequence of the oldest pending event. */
  oldestSequence: number
  /** Sequence of the newest pending event. */
  newestSequence: number
}

/** Events of workflow topics. */
export interface EventStore {
  /** Publishes events (idempotent per topic and messageId: the first write wins). Topics must exist. */
  publish(workflowId: string, events: readonly PublishInput[], now: number): Promise<PublishOutcome>
  get(id: string): Promise<Event | undefined>
  /** Oldest pending events of a topic, by sequence. */
  peekPending(workflowId: string, topic: string, limit: number): Promise<Event[]>
  /** Events of a topic with these message ids, in any status (unknown ids are left out). */
  getByMessageIds(workflowId: string, topic: string, messageIds: readonly string[]): Promise<Event[]>
  /**
   * Reserves the events listed in `reservations` for `runId`, all or nothing: every id must name a pending event of
   * that topic of workflow `workflowId`. Otherwise throws {@link ReservationRejectedError} and reserves nothing, also
   * inside a caller's transaction that catches the error and goes on. Returns the number of events reserved.
   */
  reserve(request: ReserveRequest): Promise<number>
  listReservedBy(runId: string): Promise<Event[]>
  /** reserved → consumed for every event the run holds. */
  consume(runId: string, now: number): Promise<number>
  /** reserved → skipped for every event the run holds. */
  skip(runId: string, now: number): Promise<number>
  /**
   * reserved → pending with `attempt_number + 1` for every event the run holds; events whose next attempt would
   * pass `maxAttempts` become `dead` instead.
   */
  release(runId: string, options: { maxAttempts: number; now: number }): Promise<{ released: number; dead: number }>
  /** Moves the run's reservations to another run (a retry). */
  transfer(fromRunId: string, toRunId: string, now: number): Promise<number>
  /** dead → pending, attempts reset to 1. Returns whether the event was dead. */
  requeue(eventId: string, now: number): Promise<boolean>
  /** Pending events per topic of a workflow, with counts (scans the pending events; for display). */
  pendingSummary(workflowId: string): Promise<PendingSummary[]>
  /**
   * Oldest and newest pending sequence of each named topic that has pending events. Uses the partial index only
   * (two index probes per topic), so it stays fast however many events are pending or done.
   */
  pendingBounds(workflowId: string, topics: readonly string[]): Promise<Array<Omit<PendingSummary, 'count'>>>
  countByStatus(workflowId: string): Promise<Partial<Record<EventStatus, number>>>
  listByWorkflow(
    workflowId: string,
    options?: { status?: EventStatus; topic?: string; limit?: number },
  ): Promise<Array<Event & { topic: string }>>
}

/** Events per multi-row insert of `publish` (12 parameters each: well under SQLite's and PostgreSQL's limits). */
const PUBLISH_BATCH = 500

/** Creates the {@link EventStore} over `db`. */
export function createEventStore(db: Executor): EventStore {
  async function topicId(exec: Executor, workflowId: string, name: string): Promise<string | undefined> {
    return (await topicIdOf(exec, workflowId, name).executeTakeFirst())?.id
  }

  return {
    publish(workflowId, events, now) {
      return inTransaction(db, async (trx) => {
        const outcome: PublishOutcome = { inserted: [], duplicates: [] }
        if (events.length === 0) return outcome
        const names = [...new Set(events.map((e) => e.topic))]
        const topics = await trx
          .selectFrom('topics')
          .select(['id', 'name'])
          .where('workflow_id', '=', workflowId)
          .where('name', 'in', names)
          .execute()
        const idByName = new Map(topics.map((t) => [t.name, t.id]))
        for (const name of names) if (!idByName.has(name)) throw new NotFoundError('topic', `${workflowId}/${name}`)
        const first = await trx
          .updateTable('workflows')
          .set((eb) => ({ event_sequence: eb('event_sequence', '+', events.length) }))
          .where('id', '=', workflowId)
          .returning('event_sequence')
          .executeTakeFirstOrThrow()
          .then((r) => Number(r.event_sequence) - events.length + 1)
        // One multi-row insert per batch (one round trip instead of one per event). A duplicate (an existing messageId,
        // or a repeat inside the batch) is skipped by the unique index and leaves a gap: sequences are monotonic, not
        // dense. The first write wins.
        for (let from = 0; from < events.length; from += PUBLISH_BATCH) {
          const batch = events.slice(from, from + PUBLISH_BATCH)
          const rows = await trx
            .insertInto('events')
            .values(
              batch.map((e, i) => ({
                id: e.id,
                topic_id: idByName.get(e.topic)!,
                workflow_id: workflowId,
                message_id: e.messageId,
                title: e.title,
                payload: e.payload,
                status: 'pending' as const,
                reserved_by_run_id: null,
                created_by_run_id: e.createdByRunId,
                sequence: first + from + i,
                created_at: now,
                updated_at: now,
              })),
            )
            .onConflict((oc) => oc.columns(['topic_id', 'message_id']).doNothing())
            .returning('id')
            .execute()
          const inserted = new Set(rows.map((r) => r.id))
          for (const [i, e] of batch.entries()) {
            if (inserted.has(e.id)) outcome.inserted.push({ id: e.id, topic: e.topic, messageId: e.messageId, sequence: first + from + i })
            else outcome.duplicates.push({ topic: e.topic, messageId: e.messageId })
          }
        }
        return outcome
      })
    },
    get(id) {
      return db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst()
    },
    peekPending(workflowId, topic, limit) {
      return pendingOf.rows(db, workflowId, topic, limit)
    },
    async getByMessageIds(workflowId, topic, messageIds) {
      if (messageIds.length === 0) return []
      return db
        .selectFrom('events')
        .selectAll()
        .where('topic_id', '=', topicIdOf(db, workflowId, topic))
        .where('message_id', 'in', [...new Set(messageIds)])
        .orderBy('sequence')
        .execute()
    },
    async reserve({ workflowId, runId, reservations, now }) {
      // The common case, one event: one statement, which reserves it or changes nothing. When it changes nothing, the
      // checks below say why (or reserve it, if it became pending meanwhile).
      const asked = reservations.filter((r) => r.ids.length > 0)
      if (asked.length === 1 && new Set(asked[0]!.ids).size === 1) {
        if ((await reserveOne.affected(db, workflowId, asked[0]!.topic, asked[0]!.ids[0]!, runId, now)) === 1) return 1
      }
      // All or nothing, even inside a caller's transaction that catches the rejection and goes on: every topic is
      // checked before anything is written. The rows checked are locked (FOR UPDATE on PostgreSQL; SQLite's write
      // transaction already excludes everyone), so no concurrent reservation can take one between check and write.
      return inTransaction(db, async (trx) => {
        const eventIds: string[] = []
        for (const { topic, ids } of reservations) {
          const unique = [...new Set(ids)]
          if (unique.length === 0) continue
          const found = await reservable.of(String(unique.length), 2 + unique.length, reservableQuery).rows(trx, workflowId, topic, ...unique)
          if (found.length === 0 && (await topicId(trx, workflowId, topic)) === undefined) {
            throw new ReservationRejectedError(topic, [{ messageId: unique[0]!, reason: 'is in a topic this workflow does not have' }])
          }
          const byMessage = new Map(found.map((f) => [f.message_id, f]))
          const problems: Array<{ messageId: string; reason: string }> = []
          for (const messageId of unique) {
            const f = byMessage.get(messageId)
            if (!f) problems.push({ messageId, reason: 'does not exist' })
            else if (f.status === 'reserved' && f.reserved_by_run_id === runId) problems.push({ messageId, reason: 'is already reserved by this run' })
            else if (f.status !== 'pending') problems.push({ messageId, reason: `is ${f.status}, not pending` })
          }
          if (problems.length > 0) throw new ReservationRejectedError(topic, problems)
          eventIds.push(...found.map((f) => f.id))
        }
        if (eventIds.length === 0) return 0
        // Every row is locked and pending; the count guard keeps even an impossible partial write from happening.
        const reserved = await reserveAll.of(String(eventIds.length), 2 + eventIds.length, reserveQuery).affected(trx, runId, now, ...eventIds)
        if (reserved !== eventIds.length) {
          throw new ReservationRejectedError(reservations[0]!.topic, [{ messageId: eventIds.join(','), reason: 'was reserved concurrently' }])
        }
        return eventIds.length
      })
    },
    listReservedBy(runId) {
      return db
        .selectFrom('events')
        .selectAll()
        .where('reserved_by_run_id', '=', runId)
        .where('status', '=', 'reserved')
        .orderBy('sequence')
        .execute()
    },
    consume(runId, now) {
      return consumeReserved.affected(db, now, runId)
    },
    async skip(runId, now) {
      const r = await db
        .updateTable('events')
        .set({ status: 'skipped', updated_at: now })
        .where('reserved_by_run_id', '=', runId)
        .where('status', '=', 'reserved')
        .executeTakeFirst()
      return affected(r)
    },
    release(runId, { maxAttempts, now }) {
      return inTransaction(db, async (trx) => {
        const dead = await killExhausted.affected(trx, now, runId, maxAttempts)
        const released = await releaseReserved.affected(trx, now, runId)
        return { released, dead }
      })
    },
    async transfer(fromRunId, toRunId, now) {
      const r = await db
        .updateTable('events')
        .set({ reserved_by_run_id: toRunId, updated_at: now })
        .where('reserved_by_run_id', '=', fromRunId)
        .where('status', '=', 'reserved')
        .executeTakeFirst()
      return affected(r)
    },
    async requeue(eventId, now) {
      const r = await db
        .updateTable('events')
        .set({ status: 'pending', reserved_by_run_id: null, attempt_number: 1, updated_at: now })
        .where('id', '=', eventId)
        .where('status', '=', 'dead')
        .executeTakeFirst()
      return affected(r) === 1
    },
    async pendingSummary(workflowId) {
      const rows = await db
        .selectFrom('events')
        .innerJoin('topics', 'topics.id', 'events.topic_id')
        .select((eb) => [
          'topics.name as topic',
          eb.fn.countAll<number>().as('count'),
          eb.fn.min('events.sequence').as('oldest'),
          eb.fn.max('events.sequence').as('newest'),
        ])
        .where('events.workflow_id', '=', workflowId)
        .where('events.status', '=', 'pending')
        .groupBy('topics.name')
        .execute()
      return rows.map((r) => ({
        topic: r.topic,
        count: Number(r.count),
        oldestSequence: Number(r.oldest),
        newestSequence: Number(r.newest),
      }))
    },
    async pendingBounds(workflowId, topics) {
      const names = [...new Set(topics)]
      if (names.length === 0) return []
      const rows = await pendingBounds
        .of(String(names.length), 1 + names.length, (q, ...args) => pendingBoundsQuery(q, args[0] as string, args.slice(1) as string[]))
        .rows(db, workflowId, ...names)
      return rows
        .filter((r) => r.oldest !== null && r.oldest !== undefined)
        .map((r) => ({ topic: r.topic, oldestSequence: Number(r.oldest), newestSequence: Number(r.newest) }))
    },
    async countByStatus(workflowId) {
      const rows = await db
        .selectFrom('events')
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .where('workflow_id', '=', workflowId)
        .groupBy('status')
        .execute()
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
    },
    listByWorkflow(workflowId, options = {}) {
      let q = db
        .selectFrom('events')
        .innerJoin('topics', 'topics.id', 'events.topic_id')
        .selectAll('events')
        .select('topics.name as topic')
        .where('events.workflow_id', '=', workflowId)
      if (options.status) q = q.where('events.status', '=', options.status)
      if (options.topic) q = q.where('topics.name', '=', options.topic)
      return q.orderBy('events.sequence').limit(options.limit ?? 1000).execute()
    },
  }
}
