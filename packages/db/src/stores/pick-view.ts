import { type ExpressionBuilder, sql } from 'kysely'
import { z } from 'zod'
import { CorruptColumnError } from '../errors.js'
import type { Executor } from '../executor.js'
import { readJsonColumn } from '../json-column.js'
import { preparedFamily } from '../prepared-query.js'
import type { Database, Event, JsonText, WorkflowStatus } from '../schema.js'

/** A consumer's wake-up row, as a pick reads it. */
export interface PickWakeup {
  consumerName: string
  /** The consumer is not eligible for pending events with `sequence <= idleAfterSequence`. */
  idleAfterSequence: number | null
  wakeAt: number | null
}

/** The oldest and newest pending sequence of a topic with pending events. */
export interface PendingBounds {
  topic: string
  oldestSequence: number
  newestSequence: number
}

/**
 * What choosing a workflow's next consumer, and starting it, reads: its status (`undefined` when the workflow does
 * not exist), the pending bounds of the topics asked for (only those with pending events), its consumers' wake-up
 * rows, and the stored states of the handlers asked for.
 */
export interface PickView {
  status: WorkflowStatus | undefined
  bounds: PendingBounds[]
  wakeups: PickWakeup[]
  /** Handler name → its state's JSON text (`null`: stored as null); a handler without a row is absent. */
  states: Map<string, JsonText | null>
  /** The oldest pending events of one topic, when they were asked for (see `RunStore.commitSeeing`). */
  pending?: PeekedEvents
}

/**
 * The oldest pending events of a topic as one statement read them, oldest first: at most `limit`, and all of the
 * topic's pending events when fewer came back.
 */
export interface PeekedEvents {
  topic: string
  limit: number
  events: Event[]
}

type Kind = 'workflow' | 'wakeup' | 'bounds' | 'state' | 'pending'
/** One row of {@link pickViewQuery}: a constant `kind` tells the branches apart. @internal */
export type PickRow = { kind: Kind; name: string; a: number | null; b: number | null; text: string | null }

/** The oldest (`min`) or newest (`max`) pending sequence of topic `t`, as a scalar subquery (the partial index). */
export function pendingSequence(eb: ExpressionBuilder<Database & { t: Database['topics'] }, 't'>, which: 'min' | 'max') {
  return eb
    .selectFrom('events as e')
    .select((s) => (which === 'min' ? s.fn.min('e.sequence') : s.fn.max('e.sequence')).as('m'))
    .whereRef('e.topic_id', '=', 't.id')
    .where('e.status', '=', 'pending')
}

/** What a pick view reads: the workflow, the topics whose pending bounds it asks for, the handlers whose states. @internal */
export interface PickViewRequest {
  workflowId: string
  topics: readonly string[]
  handlers: readonly string[]
}

/**
 * The reads as one statement (a UNION ALL of up to four branches, told apart by a constant `kind` column): on
 * PostgreSQL one round trip instead of three in parallel between consumer runs, and none of the run's first turn's
 * reads. Every value is a bound parameter; the constants are literals of the query. A run's commit checkpoint appends
 * it to its own statement on PostgreSQL (`RunStore.commitSeeing`). @internal
 */
export function pickViewQuery(db: Executor, { workflowId, topics, handlers }: PickViewRequest) {
  const none = sql<number | null>`cast(null as bigint)`
  const noText = sql<string | null>`cast(null as text)`
  const kind = (k: Kind) => sql.lit(k).$castTo<Kind>().as('kind')
  let query = db
    .selectFrom('workflows')
    .select((eb) => [kind('workflow'), eb.cast<string>('status', 'text').as('name'), none.as('a'), none.as('b'), noText.as('text')])
    .where('id', '=', workflowId)
    .unionAll(
      db
        .selectFrom('consumer_wakeups')
        .select([kind('wakeup'), 'consumer_name as name', 'idle_after_sequence as a', 'wake_at as b', noText.as('text')])
        .where('workflow_id', '=', workflowId),
    )
  if (topics.length > 0) {
    query = query.unionAll(
      db
        .selectFrom('topics as t')
        .select((eb) => [kind('bounds'), 't.name as name', pendingSequence(eb, 'min').as('a'), pendingSequence(eb, 'max').as('b'), noText.as('text')])
        .where('t.workflow_id', '=', workflowId)
        .where('t.name', 'in', topics),
    )
  }
  if (handlers.length > 0) {
    query = query.unionAll(
      db
        .selectFrom('handler_state')
        .select([kind('state'), 'handler_name as name', none.as('a'), none.as('b'), 'state as text'])
        .where('workflow_id', '=', workflowId)
        .where('handler_name', 'in', handlers),
    )
  }
  return query
}

/** The id of a workflow's topic, as a scalar subquery (null when there is no such topic). @internal */
export function topicIdOf(exec: Executor, workflowId: string, name: string) {
  return exec.selectFrom('topics').select('id').where('workflow_id', '=', workflowId).where('name', '=', name)
}

/** The oldest `limit` pending events of a workflow's topic, as {@link oldestPendingQuery} reads them. @internal */
export interface PendingPeek {
  workflowId: string
  topic: string
  limit: number
}

/**
 * The oldest `limit` pending events of a workflow's topic, whole rows, oldest first (what `Topics.peek` returns). One
 * round trip: the topic's id comes from a scalar subquery (an init plan), so the partial index on (topic_id, sequence)
 * still serves the order and the limit however many events are pending. @internal
 */
export function oldestPendingQuery(db: Executor, { workflowId, topic, limit }: PendingPeek) {
  return db
    .selectFrom('events')
    .selectAll()
    .where('topic_id', '=', topicIdOf(db, workflowId, topic))
    .where('status', '=', 'pending')
    .orderBy('sequence')
    .limit(limit)
}

/**
 * {@link oldestPendingQuery} as rows of the {@link pickViewQuery} shape: kind `pending`,
 * the topic's name, the sequence in `a` and the event's row as JSON text (PostgreSQL's `row_to_json`, so the row's
 * columns keep their names and types). A branch to append to the pick view with `unionAll`. @internal
 */
export function pendingEventsQuery(db: Executor, peek: PendingPeek) {
  return db
    .selectFrom(oldestPendingQuery(db, peek).as('p'))
    .select([
      sql.lit('pending').$castTo<Kind>().as('kind'),
      sql<string>`cast(${peek.topic} as text)`.as('name'),
      'p.sequence as a',
      sql<number | null>`cast(null as bigint)`.as('b'),
      sql<string | null>`cast(row_to_json(p) as text)`.as('text'),
    ])
}

/** An event row as `row_to_json` wrote it (see {@link pendingEventsQuery}); validated, since it is read back as JSON. */
const eventRowSchema = z.object({
  id: z.string(),
  topic_id: z.string(),
  workflow_id: z.string(),
  message_id: z.string(),
  title: z.string(),
  payload: z.string(),
  status: z.enum(['pending', 'reserved', 'consumed', 'skipped', 'dead']),
  reserved_by_run_id: z.string().nullable(),
  created_by_run_id: z.string().nullable(),
  attempt_number: z.number().int(),
  sequence: z.number().int(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
})

/**
 * Pure but for the validation; the events of the `pending` rows of a pick view read with
 * {@link pendingEventsQuery}(…, `{ topic, limit }`), oldest first. Throws {@link CorruptColumnError} for a row that
 * is not an event's. @internal
 */
export function peekedEventsOf(rows: readonly PickRow[], topic: string, limit: number): PeekedEvents {
  const events = rows
    .filter((r) => r.kind === 'pending')
    .map((r) => {
      const where = { table: 'events', column: 'row_to_json', rowId: `${topic}#${String(r.a)}` }
      const parsed = eventRowSchema.safeParse(readJsonColumn(r.text, where))
      if (!parsed.success) throw new CorruptColumnError(where.table, where.column, where.rowId, parsed.error.message)
      return parsed.data satisfies Event
    })
  // The order of a UNION ALL's rows is not defined.
  events.sort((x, y) => x.sequence - y.sequence)
  return { topic, limit, events }
}

/** {@link pickViewQuery} by numbers of topics and handlers, compiled once per dialect: read before every consumer run. */
const pickViews = preparedFamily<PickRow>()

/**
 * Reads the {@link PickView} of `workflowId` for `topics` and the states of `handlers` (duplicates ignored) in one
 * statement.
 */
export async function readPickView(db: Executor, { workflowId, topics, handlers }: PickViewRequest): Promise<PickView> {
  const names = [...new Set(topics)]
  const owners = [...new Set(handlers)]
  const rows = await pickViews
    .of(`${names.length}/${owners.length}`, 1 + names.length + owners.length, (q, ...args) =>
      pickViewQuery(q, { workflowId: args[0] as string, topics: args.slice(1, 1 + names.length) as string[], handlers: args.slice(1 + names.length) as string[] }),
    )
    .rows(db, workflowId, ...names, ...owners)
  return pickViewOf(rows)
}

/** Pure; the {@link PickView} of the rows of {@link pickViewQuery}. @internal */
export function pickViewOf(rows: readonly PickRow[]): PickView {
  const view: PickView = { status: undefined, bounds: [], wakeups: [], states: new Map() }
  for (const row of rows) {
    if (row.kind === 'workflow') view.status = row.name as WorkflowStatus
    else if (row.kind === 'wakeup') view.wakeups.push({ consumerName: row.name, idleAfterSequence: nullableNumber(row.a), wakeAt: nullableNumber(row.b) })
    else if (row.kind === 'state') view.states.set(row.name, row.text as JsonText | null)
    else if (row.kind === 'pending') continue // see peekedEventsOf
    else if (row.a !== null) view.bounds.push({ topic: row.name, oldestSequence: Number(row.a), newestSequence: Number(row.b) })
  }
  // The order of a UNION ALL's rows is not defined: sorted here as the separate reads sorted them.
  view.wakeups.sort((x, y) => (x.consumerName < y.consumerName ? -1 : x.consumerName > y.consumerName ? 1 : 0))
  return view
}

function nullableNumber(value: number | string | null): number | null {
  return value === null ? null : Number(value)
}
