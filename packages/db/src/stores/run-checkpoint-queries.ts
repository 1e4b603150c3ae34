/**
 * PostgreSQL checkpoints of `RunStore` as single statements: the prepared checkpoint (lock, reserve, move, wake-up,
 * sleep) and the commit checkpoint (move, consume, store the state; optionally also the session's next pick view and
 * the next run's first peek), each compiled once per shape (see `prepareQuery`).
 */
import { type QueryCreator, sql } from 'kysely'
import type { Executor } from '../executor.js'
import { type PreparedQuery, preparedFamily } from '../prepared-query.js'
import type { Database, HandlerRunUpdate, RunPhase, RunStatus, WorkflowStatus } from '../schema.js'
import { sleepAfterWakeupWrite } from './consumer-wakeup-store.js'
import { reservePendingEvent } from './event-reservation-queries.js'
import { type PickRow, pendingEventsQuery, pickViewQuery } from './pick-view.js'
import type { RunCommitEffects, RunPrepareEffects } from './run-store.js'
import { definedColumns, rowOf } from './run-queries.js'

/** PostgreSQL commit checkpoints by shape (the run columns set, whether a state is stored). */
const commits = preparedFamily<{ moved: number | string }>()

/**
 * PostgreSQL, one statement (see {@link RunStore.commit}): the run's compare-and-set in a WITH, and the events'
 * consumption and the state's upsert in WITHs that read its RETURNING, so they write only if the run moved. Arguments:
 * the run id, its phase and status, the columns' values, now, then (with a state) the workflow, the handler and the
 * state.
 */
export function commitQuery(columns: readonly string[], withState: boolean): PreparedQuery<unknown[], { moved: number | string }> {
  return commits.of(`${columns.join(',')}/${withState}`, commitArity(columns, withState), (db, ...args) =>
    commitWrites(db, { columns, withState }, args)
      .selectFrom('moved')
      .select((eb) => eb.fn.countAll<number>().as('moved')),
  )
}

/** The shape of a commit statement: the run columns it sets, whether it stores a state. */
export interface CommitShape {
  columns: readonly string[]
  withState: boolean
}

/** A run's commit checkpoint, as {@link RunStore.commit} (and {@link RunStore.commitSeeing}) gets it. */
export interface CommitRequest {
  /** The run. */
  id: string
  /** The run's phase and status now; the commit applies only if both still hold. */
  guard: { phase: RunPhase; status: RunStatus }
  /** The run's columns to set. */
  set: HandlerRunUpdate
  /** What the commit writes besides the run. */
  effects: RunCommitEffects
}

/** A consumer run's prepared checkpoint, as {@link RunStore.prepare} gets it. */
export interface PrepareRequest {
  /** The run. */
  id: string
  /** The run's phase and status now; the checkpoint applies only if both still hold. */
  guard: { phase: RunPhase; status: RunStatus }
  /** The run's columns to set. */
  set: HandlerRunUpdate
  /** What the checkpoint writes besides the run. */
  effects: RunPrepareEffects
}

/** Pure; the shape of a commit statement (the run columns set, whether a state is stored) and its arguments. */
export function commitArguments({ id, guard, set, effects }: CommitRequest): CommitShape & { args: unknown[] } {
  const { columns, values } = definedColumns(set)
  const state = effects.state ? [effects.state.workflowId, effects.state.handlerName, effects.state.state] : []
  return { columns, withState: effects.state !== undefined, args: [id, guard.phase, guard.status, ...values, effects.now, ...state] }
}

/** The number of arguments of {@link commitQuery}. */
const commitArity = (columns: readonly string[], withState: boolean) => 4 + columns.length + (withState ? 3 : 0)

/** The commit statement's rows when it also returns the pick view: one `moved` row (its count in `a`), then the view's. */
export type SeeingRow = Omit<PickRow, 'kind'> & { kind: PickRow['kind'] | 'moved' }

/** PostgreSQL commit checkpoints that return the pick view, by shape (also the numbers of topics and handlers). */
const commitsSeeing = preparedFamily<SeeingRow>()

/** The shape of a commit statement that returns the pick view: also the numbers of topics and handlers, and whether it peeks. */
export interface CommitSeeingShape extends CommitShape {
  topics: number
  handlers: number
  peek: boolean
}

/**
 * {@link commitQuery} followed by the pick view (see {@link RunStore.commitSeeing}): `select 'moved', count(*) from
 * moved union all` the view's branches, which read nothing the WITHs wrote. Arguments: those of {@link commitQuery},
 * then the workflow, the topics and the handlers (then, when peeking, the topic and the limit).
 */
export function commitSeeingQuery(shape: CommitSeeingShape): PreparedQuery<unknown[], SeeingRow> {
  const { columns, withState, topics, handlers, peek } = shape
  const arity = commitArity(columns, withState)
  const extra = 1 + topics + handlers + (peek ? 2 : 0)
  return commitsSeeing.of(`${columns.join(',')}/${withState}/${topics}/${handlers}/${peek}`, arity + extra, (db, ...args) => {
    const [workflowId, ...names] = args.slice(arity) as string[]
    let view = pickViewQuery(db, { workflowId: workflowId!, topics: names.slice(0, topics), handlers: names.slice(topics, topics + handlers) })
    if (peek) {
      const [topic, limit] = args.slice(arity + 1 + topics + handlers) as [string, number]
      view = view.unionAll(pendingEventsQuery(db, { workflowId: workflowId!, topic, limit }))
    }
    return commitWrites(db, { columns, withState }, args.slice(0, arity))
      .selectFrom('moved')
      .select([
        sql.lit('moved').$castTo<SeeingRow['kind']>().as('kind'),
        sql<string>`cast(null as text)`.as('name'),
        sql<number | null>`count(*)`.as('a'),
        sql<number | null>`cast(null as bigint)`.as('b'),
        sql<string | null>`cast(null as text)`.as('text'),
      ])
      .unionAll(view)
  })
}

/** What the commit statement's final select may read: the run's row if it moved (the other WITHs only write). */
type CommitWrites = QueryCreator<Database & { moved: { id: string } }>

/** The WITHs of the commit statement (see {@link commitQuery}), ready for its final `select … from moved`. */
function commitWrites(db: Executor, { columns, withState }: CommitShape, args: readonly unknown[]): CommitWrites {
  const [id, phase, status] = args as [string, RunPhase, RunStatus]
  const set = rowOf(columns, args.slice(3, 3 + columns.length)) as HandlerRunUpdate
  const now = args[3 + columns.length] as number
  const [workflowId, handlerName, state] = args.slice(4 + columns.length) as [string, string, string]
  const base = db
    .with('moved', (qb) => qb.updateTable('handler_runs').set(set).where('id', '=', id).where('phase', '=', phase).where('status', '=', status).returning('id'))
    .with('consumed', (qb) =>
      qb
        .updateTable('events')
        .set({ status: 'consumed', updated_at: now })
        .where('reserved_by_run_id', '=', (eb) => eb.selectFrom('moved').select('moved.id'))
        .where('status', '=', 'reserved')
        .returning('events.id'),
    )
  // Typed as what the final select reads: kysely's builder types for the extra WITHs do not widen to it.
  if (!withState) return base as unknown as CommitWrites
  const stored = base.with('stored', (qb) =>
    qb
      .insertInto('handler_state')
      .columns(['workflow_id', 'handler_name', 'state', 'updated_at', 'updated_by_run_id'])
      .expression((eb) => eb.selectFrom('moved').select([eb.val(workflowId).as('workflow_id'), eb.val(handlerName).as('handler_name'), eb.val(state).as('state'), eb.val(now).as('updated_at'), 'moved.id as updated_by_run_id']))
      .onConflict((oc) =>
        oc.columns(['workflow_id', 'handler_name']).doUpdateSet((eb) => ({
          state: eb.ref('excluded.state'),
          updated_at: eb.ref('excluded.updated_at'),
          updated_by_run_id: eb.ref('excluded.updated_by_run_id'),
        })),
      )
      .returning('handler_state.workflow_id'),
  )
  return stored as unknown as CommitWrites
}

/** PostgreSQL prepared checkpoints by shape (the run columns set, whether an event is reserved). */
const prepares = preparedFamily<{ locked: number | string; moved: number | string; workflow_status: WorkflowStatus | null }>()

/**
 * PostgreSQL, one statement (see {@link RunStore.prepare}). The run's row is locked first (`FOR UPDATE`, re-checked
 * after a wait), so the event's reservation and the run's move either both apply or, when the event is not pending,
 * neither does; the wake-up row and the workflow's sleep follow the run's move. Arguments: the run id, its phase and
 * status, the columns' values, now, the workflow, the consumer, the idle marker, the wake time, then (when reserving)
 * the topic and the message id.
 */
export function prepareCheckpointQuery(columns: readonly string[], reserving: boolean) {
  return prepares.of(`${columns.join(',')}/${reserving}`, 8 + columns.length + (reserving ? 2 : 0), (db, ...args) => {
    const checkpoint = checkpointOf(columns, args)
    const { workflowId } = checkpoint
    return moveWakeAndSleep(lockAndReserve(db, checkpoint, reserving), checkpoint).selectNoFrom((eb) => [
      eb.selectFrom('locked').select((s) => s.fn.countAll<number>().as('n')).as('locked'),
      eb.selectFrom('moved').select((s) => s.fn.countAll<number>().as('n')).as('moved'),
      eb.selectFrom('workflows').select('workflows.status').where('workflows.id', '=', workflowId).as('workflow_status'),
    ])
  })
}

/** A prepared checkpoint's values, read from the statement's arguments (see {@link prepareCheckpointQuery}). */
interface Checkpoint {
  id: string
  phase: RunPhase
  status: RunStatus
  set: HandlerRunUpdate
  now: number
  workflowId: string
  consumerName: string
  idleAfterSequence: number | null
  wakeAt: number | null
  /** Only when reserving. */
  topic: string
  /** Only when reserving. */
  messageId: string
}

/** Pure; the {@link Checkpoint} of a prepared checkpoint's arguments (stand-ins while the statement is built). */
function checkpointOf(columns: readonly string[], args: readonly unknown[]): Checkpoint {
  const [id, phase, status] = args as [string, RunPhase, RunStatus]
  const set = rowOf(columns, args.slice(3, 3 + columns.length)) as HandlerRunUpdate
  const [now, workflowId, consumerName, idleAfterSequence, wakeAt, topic, messageId] = args.slice(3 + columns.length) as [
    number,
    string,
    string,
    number | null,
    number | null,
    string,
    string,
  ]
  return { id, phase, status, set, now, workflowId, consumerName, idleAfterSequence, wakeAt, topic, messageId }
}

/** The first WITHs of the prepared checkpoint: the run's row locked, then the event reserved (or the run itself). */
function lockAndReserve(db: Executor, { id, phase, status, now, workflowId, topic, messageId }: Checkpoint, reserving: boolean) {
  const locked = db.with('locked', (qb) =>
    qb.selectFrom('handler_runs').select('id').where('id', '=', id).where('phase', '=', phase).where('status', '=', status).forUpdate(),
  )
  // Reserving: the event's update, which changes a row only while the run is locked. Not reserving: the locked run
  // itself, so the move below depends on it alone.
  return locked.with('reserved', (qb) =>
    reserving
      ? reservePendingEvent(db, { workflowId, topic, messageId, runId: id, now })
          .where(sql<boolean>`exists (select 1 from locked)`)
          .returning('events.id')
      : qb.selectFrom('locked').select('locked.id'),
  )
}

/** The rest of the prepared checkpoint's WITHs: the run's move, and only if it moved, the wake-up row and the sleep. */
function moveWakeAndSleep(reserved: ReturnType<typeof lockAndReserve>, { set, now, workflowId, consumerName, idleAfterSequence, wakeAt }: Checkpoint) {
  return reserved
    .with('moved', (qb) =>
      qb
        .updateTable('handler_runs')
        .set(set)
        .where('handler_runs.id', 'in', (eb) => eb.selectFrom('locked').select('locked.id'))
        .where((eb) => eb.exists(eb.selectFrom('reserved').select('reserved.id')))
        .returning('handler_runs.id'),
    )
    .with('woken', (qb) =>
      qb
        .insertInto('consumer_wakeups')
        .columns(['workflow_id', 'consumer_name', 'idle_after_sequence', 'wake_at', 'updated_at'])
        .expression((eb) =>
          eb
            .selectFrom('moved')
            .select([eb.val(workflowId).as('workflow_id'), eb.val(consumerName).as('consumer_name'), eb.val(idleAfterSequence).as('idle_after_sequence'), eb.val(wakeAt).as('wake_at'), eb.val(now).as('updated_at')]),
        )
        .onConflict((oc) =>
          oc.columns(['workflow_id', 'consumer_name']).doUpdateSet((eb) => ({
            idle_after_sequence: eb.ref('excluded.idle_after_sequence'),
            wake_at: eb.ref('excluded.wake_at'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returning('consumer_wakeups.workflow_id'),
    )
    .with('slept', (qb) =>
      qb
        .updateTable('workflows')
        .set({ consumer_sleep_until: sleepAfterWakeupWrite(workflowId, consumerName, wakeAt) })
        .where('workflows.id', '=', workflowId)
        .where((eb) => eb.exists(eb.selectFrom('moved').select('moved.id')))
        .returning('workflows.id'),
    )
}
