import { type Compilable, type QueryCreator, sql } from 'kysely'
import { isSqlite } from '../dialects/detect.js'
import { NotFoundError } from '../errors.js'
import { createConsumerWakeupStore, sleepAfterWakeupWrite } from './consumer-wakeup-store.js'
import { createEventStore, reservePendingEvent } from './event-store.js'
import { createHandlerStateStore } from './handler-state-store.js'
import { type PickRow, type PickView, peekedEventsOf, pendingEventsQuery, pickViewOf, pickViewQuery } from './pick-view.js'
import { createWorkflowStore } from './workflow-store.js'
import { type Executor, affected, inTransaction, withTransientRetry } from '../executor.js'
import { type PreparedQuery, prepareQuery, preparedFamily } from '../prepared-query.js'
import {
  type Database,
  type HandlerRun,
  type HandlerRunUpdate,
  type NewHandlerRun,
  type RunPhase,
  type RunStatus,
  UNFINISHED_RUN_STATUSES,
  type WorkflowStatus,
} from '../schema.js'

/** The expected current state of a run, for a guarded transition. */
export interface RunGuard {
  phase?: RunPhase | readonly RunPhase[]
  status?: RunStatus | readonly RunStatus[]
}

/** Reads and guarded transitions of `handler_runs`. */
export interface RunStore {
  insert(row: NewHandlerRun): Promise<void>
  /**
   * Inserts a run as the next one of its session: the ordinal is the session's highest + 1 and the session's
   * `handler_run_count` goes up by one, computed by the database (one statement on PostgreSQL, a transaction of two
   * on SQLite). Returns the ordinal.
   */
  insertNext(row: Omit<NewHandlerRun, 'ordinal'>): Promise<number>
  /** {@link RunStore.insertNext}, returning the run as a read of it would (its columns' defaults filled in). */
  insertNextRun(row: Omit<NewHandlerRun, 'ordinal'>): Promise<HandlerRun>
  /**
   * {@link RunStore.insertNextRun}, with the workflow's status and event sequence as the insert saw them when the
   * same statement could read them (PostgreSQL; `workflow` is absent on SQLite, where a read costs no round trip).
   */
  insertNextRunSeeing(row: Omit<NewHandlerRun, 'ordinal'>): Promise<{ run: HandlerRun; workflow?: SeenWorkflow }>
  get(id: string): Promise<HandlerRun | undefined>
  /** Runs of a session in the order they were created. */
  listBySession(sessionId: string): Promise<HandlerRun[]>
  /** Active, waiting and paused runs of a workflow, oldest first (at most one, by constraint). */
  listUnfinished(workflowId: string): Promise<HandlerRun[]>
  listByWorkflow(workflowId: string, options?: { limit?: number; status?: RunStatus }): Promise<HandlerRun[]>
  /** Consumer runs of a session (the iteration budget counts these). */
  countConsumerRuns(sessionId: string): Promise<number>
  /**
   * Compare-and-set: applies `set` only when the run's phase and status match `guard`. Returns whether it applied.
   */
  transition(id: string, guard: RunGuard, set: HandlerRunUpdate): Promise<boolean>
  /** Adds microdollars to the run's cost (and to its session's stored cost when that session is already closed). */
  addCost(id: string, microdollars: number): Promise<void>
  /** The run that retried `id`, if any. */
  findRetryOf(id: string): Promise<HandlerRun | undefined>
  /**
   * A run's commit checkpoint in one atomic step: {@link transition} (from exactly this phase and status), and only
   * if it applies, its reserved events consumed and its handler's new state stored. Returns whether it applied
   * (false: nothing was written). One statement on PostgreSQL, a transaction on SQLite; composes into a caller's
   * transaction.
   */
  commit(id: string, guard: { phase: RunPhase; status: RunStatus }, set: HandlerRunUpdate, effects: RunCommitEffects): Promise<boolean>
  /**
   * {@link RunStore.commit}, and on PostgreSQL, in the same statement, the workflow's pick view as the session's next
   * pick needs it (see {@link PickView}): what a read right after the commit would return, saving the session that
   * round trip. The statement's reads see the database as it was when the statement started, which is the state
   * after the commit for everything the commit changes in the view: its reserved events were already not pending,
   * it writes no wake-up row, and the state it stores replaces the one read. A write another connection commits
   * while the statement runs is missed, as it would be by a read just before it committed. On SQLite `view` is
   * absent (a read there costs no round trip); with `applied` false it is absent too.
   *
   * With `see.peek`, the view also holds the oldest `limit` pending events of that topic (`view.pending`), read in
   * the same statement, for the session's next run's first `Topics.peek` (the engine asks for what this run peeked).
   * Only the session that owns the workflow reserves its events, so while it holds its lease these stay pending.
   */
  commitSeeing(
    id: string,
    guard: { phase: RunPhase; status: RunStatus },
    set: HandlerRunUpdate,
    effects: RunCommitEffects,
    see: { workflowId: string; topics: readonly string[]; handlers: readonly string[]; peek?: { topic: string; limit: number } },
  ): Promise<{ applied: boolean; view?: PickView }>
  /**
   * A consumer run's prepared checkpoint in one atomic step: {@link transition} (from exactly this phase and status),
   * the reservation of at most one event, and the consumer's wake-up row (with the workflow's sleep), all or nothing.
   * Its `outcome` is `applied`, `moved` (the run was not where the guard expects it) or `refused` (the event was not
   * pending); after `moved` or `refused` nothing was written. With `applied` comes the workflow's status as the step
   * saw it, which spares the run's next turn its own read of the workflow (an operator's pause is seen as well at this
   * checkpoint as in a read just after it). One statement on PostgreSQL (the run's row locked first, so no
   * part can apply without the others), a transaction on SQLite; composes into a caller's transaction.
   */
  prepare(id: string, guard: { phase: RunPhase; status: RunStatus }, set: HandlerRunUpdate, effects: RunPrepareEffects): Promise<RunPrepareResult>
}

/** A workflow's status and event sequence, as a write that read them in its statement saw them. */
export interface SeenWorkflow {
  status: WorkflowStatus
  eventSequence: number
}

/** What {@link RunStore.prepare} did. */
export interface RunPrepareResult {
  outcome: 'applied' | 'moved' | 'refused'
  /** With `applied`: the workflow's status when the checkpoint was written (`undefined`: deleted). */
  workflowStatus?: WorkflowStatus | undefined
}

/** What {@link RunStore.prepare} writes besides the run. */
export interface RunPrepareEffects {
  workflowId: string
  consumerName: string
  now: number
  /** The one event to reserve for the run; absent: none. */
  reserve?: { topic: string; messageId: string }
  /** The consumer's wake-up row (`consumer_wakeups`). */
  wakeup: { idleAfterSequence: number | null; wakeAt: number | null }
}

/** What {@link RunStore.commit} writes besides the run. */
export interface RunCommitEffects {
  /** When the run's reserved events become consumed. */
  now: number
  /** The handler's new state (JSON text); absent: the state stays as it is. */
  state?: { workflowId: string; handlerName: string; state: string }
}

/** Defaults of the run columns a new row may leave out (see the initial migration). */
const RUN_DEFAULTS = { attempt: 1, cost: 0 } as const

/**
 * Pure; the run a read returns after `row` was inserted with `ordinal`: the row's values, and the columns' defaults
 * where it left them out. A store test compares it with the row read back, on both dialects.
 */
function insertedRun(row: Omit<NewHandlerRun, 'ordinal'>, ordinal: number): HandlerRun {
  const given = Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined))
  return { ...RUN_DEFAULTS, ...given, ordinal } as HandlerRun
}

const asList = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? (v as readonly T[]) : [v as T])

/** Pure; the columns of `row` that kysely writes (it leaves out those set to undefined), and their values. */
function definedColumns(row: object): { columns: string[]; values: unknown[] } {
  const entries = Object.entries(row).filter(([, value]) => value !== undefined)
  return { columns: entries.map(([column]) => column), values: entries.map(([, value]) => value) }
}

/** Pure; the object with `columns` set to `values`, in order (a prepared statement's row of stand-ins). */
const rowOf = (columns: readonly string[], values: readonly unknown[]) => Object.fromEntries(columns.map((column, i) => [column, values[i]]))

/** Compiled run transitions by shape: the columns set, and how many phases and statuses guard it (0: none). */
const transitions = preparedFamily<unknown>()

/**
 * The compare-and-set UPDATE of a run for one shape, compiled once per dialect (see `prepareQuery`); every phase of
 * every run goes through one. Its arguments: the id, the columns' values, the phases, the statuses.
 */
function transitionQuery(columns: readonly string[], phases: number, statuses: number): PreparedQuery<unknown[], unknown> {
  return transitions.of(`${columns.join(',')}/${phases}/${statuses}`, 1 + columns.length + phases + statuses, (db, ...args) => {
    const set = rowOf(columns, args.slice(1, 1 + columns.length)) as HandlerRunUpdate
    let q = db.updateTable('handler_runs').set(set).where('id', '=', args[0] as string)
    if (phases > 0) q = q.where('phase', 'in', args.slice(1 + columns.length, 1 + columns.length + phases) as RunPhase[])
    if (statuses > 0) q = q.where('status', 'in', args.slice(1 + columns.length + phases) as RunStatus[])
    return q
  })
}

type NewRunRow = Omit<NewHandlerRun, 'ordinal'>

/** The row of a session's next run, its ordinal computed by the database: the session's highest + 1. */
function nextRunValues(db: Executor, row: NewRunRow) {
  return {
    ...row,
    ordinal: db
      .selectFrom('handler_runs as o')
      .select((eb) => sql<number>`coalesce(max(${eb.ref('o.ordinal')}), 0) + 1`.as('next'))
      .where('o.script_run_id', '=', row.script_run_id),
  }
}

/** SQLite: inserts the next run and returns its ordinal (the session's count goes up in a second statement). */
function insertedNextRun(db: Executor, row: NewRunRow) {
  return db.insertInto('handler_runs').values(nextRunValues(db, row)).returning('ordinal')
}

/** PostgreSQL, one statement: inserts the next run and counts it in its session; no row when the session is missing. */
function countedNextRun(db: Executor, row: NewRunRow) {
  return db
    .with('inserted', (qb) => qb.insertInto('handler_runs').values(nextRunValues(db, row)).returning(['ordinal', 'script_run_id']))
    .updateTable('script_runs')
    .set((eb) => ({ handler_run_count: eb('handler_run_count', '+', 1) }))
    .where('id', '=', row.script_run_id)
    .returning((eb) => eb.selectFrom('inserted').select('inserted.ordinal').as('ordinal'))
}

/** {@link countedNextRun}, also returning the workflow's status and event sequence as the statement saw them. */
function countedNextRunSeeing(db: Executor, row: NewRunRow) {
  return countedNextRun(db, row).returning((eb) => [
    eb.selectFrom('workflows').select('workflows.status').where('workflows.id', '=', row.workflow_id).as('workflow_status'),
    eb.selectFrom('workflows').select('workflows.event_sequence').where('workflows.id', '=', row.workflow_id).as('event_sequence'),
  ])
}

/** Compiled next-run statements by the columns given (a column left undefined takes its default). */
const nextRunInserted = preparedFamily<{ ordinal: number | string }>()
const nextRunCounted = preparedFamily<{ ordinal: number | string | null }>()
const nextRunSeeing = preparedFamily<{ ordinal: number | string | null; workflow_status: WorkflowStatus | null; event_sequence: number | string | null }>()

/** The statement of `build` for a row of these `columns`, compiled once per dialect (see `prepareQuery`). */
function nextRunQuery<Row>(
  family: ReturnType<typeof preparedFamily<Row>>,
  columns: readonly string[],
  build: (db: Executor, row: NewRunRow) => Compilable<Row>,
): PreparedQuery<unknown[], Row> {
  return family.of(columns.join(','), columns.length, (db, ...args) => build(db, rowOf(columns, args) as NewRunRow))
}

/** Compiled once per dialect (see `prepareQuery`): read at every checkpoint. */
const runById = prepareQuery(1, (db, id: string) => db.selectFrom('handler_runs').selectAll().where('id', '=', id))
/** One more run in the session's count (SQLite; PostgreSQL does it in the insert's statement). */
const countRun = prepareQuery(1, (db, sessionId: string) =>
  db
    .updateTable('script_runs')
    .set((eb) => ({ handler_run_count: eb('handler_run_count', '+', 1) }))
    .where('id', '=', sessionId),
)
const consumerRunCount = prepareQuery(1, (db, sessionId: string) =>
  db
    .selectFrom('handler_runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('script_run_id', '=', sessionId)
    .where('handler_type', '=', 'consumer'),
)

/** PostgreSQL commit checkpoints by shape (the run columns set, whether a state is stored). */
const commits = preparedFamily<{ moved: number | string }>()

/**
 * PostgreSQL, one statement (see {@link RunStore.commit}): the run's compare-and-set in a WITH, and the events'
 * consumption and the state's upsert in WITHs that read its RETURNING, so they write only if the run moved. Arguments:
 * the run id, its phase and status, the columns' values, now, then (with a state) the workflow, the handler and the
 * state.
 */
function commitQuery(columns: readonly string[], withState: boolean): PreparedQuery<unknown[], { moved: number | string }> {
  return commits.of(`${columns.join(',')}/${withState}`, commitArity(columns, withState), (db, ...args) =>
    commitWrites(db, columns, withState, args)
      .selectFrom('moved')
      .select((eb) => eb.fn.countAll<number>().as('moved')),
  )
}

/** Pure; the shape of a commit statement (the run columns set, whether a state is stored) and its arguments. */
function commitArguments(id: string, guard: { phase: RunPhase; status: RunStatus }, set: HandlerRunUpdate, effects: RunCommitEffects) {
  const { columns, values } = definedColumns(set)
  const state = effects.state ? [effects.state.workflowId, effects.state.handlerName, effects.state.state] : []
  return { columns, withState: effects.state !== undefined, args: [id, guard.phase, guard.status, ...values, effects.now, ...state] }
}

/** The number of arguments of {@link commitQuery}. */
const commitArity = (columns: readonly string[], withState: boolean) => 4 + columns.length + (withState ? 3 : 0)

/** The commit statement's rows when it also returns the pick view: one `moved` row (its count in `a`), then the view's. */
type SeeingRow = Omit<PickRow, 'kind'> & { kind: PickRow['kind'] | 'moved' }

/** PostgreSQL commit checkpoints that return the pick view, by shape (also the numbers of topics and handlers). */
const commitsSeeing = preparedFamily<SeeingRow>()

/**
 * {@link commitQuery} followed by the pick view (see {@link RunStore.commitSeeing}): `select 'moved', count(*) from
 * moved union all` the view's branches, which read nothing the WITHs wrote. Arguments: those of {@link commitQuery},
 * then the workflow, the topics and the handlers.
 */
function commitSeeingQuery(columns: readonly string[], withState: boolean, topics: number, handlers: number, peek: boolean): PreparedQuery<unknown[], SeeingRow> {
  const arity = commitArity(columns, withState)
  const extra = 1 + topics + handlers + (peek ? 2 : 0)
  return commitsSeeing.of(`${columns.join(',')}/${withState}/${topics}/${handlers}/${peek}`, arity + extra, (db, ...args) => {
    const [workflowId, ...names] = args.slice(arity) as string[]
    let view = pickViewQuery(db, workflowId!, names.slice(0, topics), names.slice(topics, topics + handlers))
    if (peek) {
      const [topic, limit] = args.slice(arity + 1 + topics + handlers) as [string, number]
      view = view.unionAll(pendingEventsQuery(db, workflowId!, topic, limit))
    }
    return commitWrites(db, columns, withState, args.slice(0, arity))
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
function commitWrites(db: Executor, columns: readonly string[], withState: boolean, args: readonly unknown[]): CommitWrites {
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
function prepareCheckpointQuery(columns: readonly string[], reserving: boolean) {
  return prepares.of(`${columns.join(',')}/${reserving}`, 8 + columns.length + (reserving ? 2 : 0), (db, ...args) => {
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
    const locked = db.with('locked', (qb) =>
      qb.selectFrom('handler_runs').select('id').where('id', '=', id).where('phase', '=', phase).where('status', '=', status).forUpdate(),
    )
    // Reserving: the event's update, which changes a row only while the run is locked. Not reserving: the locked run
    // itself, so the move below depends on it alone.
    const reserved = locked.with('reserved', (qb) =>
      reserving
        ? reservePendingEvent(db, workflowId, topic, messageId, id, now)
            .where(sql<boolean>`exists (select 1 from locked)`)
            .returning('events.id')
        : qb.selectFrom('locked').select('locked.id'),
    )
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
      .selectNoFrom((eb) => [
        eb.selectFrom('locked').select((s) => s.fn.countAll<number>().as('n')).as('locked'),
        eb.selectFrom('moved').select((s) => s.fn.countAll<number>().as('n')).as('moved'),
        eb.selectFrom('workflows').select('workflows.status').where('workflows.id', '=', workflowId).as('workflow_status'),
      ])
  })
}

/** Creates the {@link RunStore} over `db`. */
export function createRunStore(db: Executor): RunStore {
  return {
    async insert(row) {
      await db.insertInto('handler_runs').values(row).execute()
    },
    async insertNext(row) {
      const { columns, values } = definedColumns(row)
      if (!isSqlite(db)) {
        const counted = await nextRunQuery(nextRunCounted, columns, countedNextRun).first(db, ...values)
        if (!counted) throw new NotFoundError('session', row.script_run_id)
        return Number(counted.ordinal)
      }
      return inTransaction(db, async (trx) => {
        const inserted = await nextRunQuery(nextRunInserted, columns, insertedNextRun).first(trx, ...values)
        if (!inserted) throw new NotFoundError('session', row.script_run_id)
        await countRun.execute(trx, row.script_run_id)
        return Number(inserted.ordinal)
      })
    },
    async insertNextRun(row) {
      return insertedRun(row, await this.insertNext(row))
    },
    async insertNextRunSeeing(row) {
      if (isSqlite(db)) return { run: await this.insertNextRun(row) }
      const { columns, values } = definedColumns(row)
      const counted = await nextRunQuery(nextRunSeeing, columns, countedNextRunSeeing).first(db, ...values)
      if (!counted) throw new NotFoundError('session', row.script_run_id)
      const run = insertedRun(row, Number(counted.ordinal))
      // The run's foreign key makes the workflow exist; a null would mean a schema this code does not know.
      if (counted.workflow_status === null || counted.event_sequence === null) return { run }
      return { run, workflow: { status: counted.workflow_status, eventSequence: Number(counted.event_sequence) } }
    },
    get(id) {
      return runById.first(db, id)
    },
    listBySession(sessionId) {
      return db.selectFrom('handler_runs').selectAll().where('script_run_id', '=', sessionId).orderBy('ordinal').execute()
    },
    listUnfinished(workflowId) {
      return db
        .selectFrom('handler_runs')
        .selectAll()
        .where('workflow_id', '=', workflowId)
        .where('status', 'in', UNFINISHED_RUN_STATUSES)
        .orderBy('start_timestamp')
        .orderBy('id')
        .execute()
    },
    listByWorkflow(workflowId, options = {}) {
      let q = db.selectFrom('handler_runs').selectAll().where('workflow_id', '=', workflowId)
      if (options.status) q = q.where('status', '=', options.status)
      return q
        .orderBy('start_timestamp', 'desc')
        .orderBy('ordinal', 'desc')
        .limit(options.limit ?? 1000)
        .execute()
    },
    async countConsumerRuns(sessionId) {
      const row = await consumerRunCount.first(db, sessionId)
      return Number(row?.n ?? 0)
    },
    async transition(id, guard, set) {
      const phases = guard.phase === undefined ? undefined : asList(guard.phase)
      const statuses = guard.status === undefined ? undefined : asList(guard.status)
      // An empty list matches nothing (and `in ()` is a syntax error on PostgreSQL).
      if (phases?.length === 0 || statuses?.length === 0) return false
      // The columns set and the guard lists' lengths decide the statement's shape.
      const { columns, values } = definedColumns(set)
      const query = transitionQuery(columns, phases?.length ?? 0, statuses?.length ?? 0)
      return (await query.affected(db, id, ...values, ...(phases ?? []), ...(statuses ?? []))) === 1
    },
    async addCost(id, microdollars) {
      if (microdollars === 0) return
      await db
        .updateTable('handler_runs')
        .set((eb) => ({ cost: eb('cost', '+', microdollars) }))
        .where('id', '=', id)
        .execute()
      // A run can go on spending after its session closed (it continued in a later session): keep the closed
      // session's stored cost equal to the sum of its runs. An open session sums its runs when it closes.
      await db
        .updateTable('script_runs')
        .set((eb) => ({ cost: eb('cost', '+', microdollars) }))
        .where('id', '=', (eb) => eb.selectFrom('handler_runs').select('script_run_id').where('id', '=', id))
        .where('end_timestamp', 'is not', null)
        .execute()
    },
    findRetryOf(id) {
      return db.selectFrom('handler_runs').selectAll().where('retry_of', '=', id).executeTakeFirst()
    },
    async prepare(id, guard, set, effects) {
      const { workflowId, consumerName, now, reserve, wakeup } = effects
      if (!isSqlite(db)) {
        const { columns, values } = definedColumns(set)
        const query = prepareCheckpointQuery(columns, reserve !== undefined)
        const args = [id, guard.phase, guard.status, ...values, now, workflowId, consumerName, wakeup.idleAfterSequence, wakeup.wakeAt, ...(reserve ? [reserve.topic, reserve.messageId] : [])]
        const row = await withTransientRetry(db, () => query.first(db, ...args))
        if (Number(row?.locked ?? 0) !== 1) return { outcome: 'moved' }
        if (Number(row?.moved ?? 0) !== 1) return { outcome: 'refused' }
        return { outcome: 'applied', workflowStatus: row?.workflow_status ?? undefined }
      }
      // SQLite: the reservation goes first, guarded by the run's phase and status, so a refusal is known before
      // anything is written (also inside a caller's transaction, which a refusal must not leave half done). After it,
      // this connection holds the write lock: nobody can move the run before the transition below.
      return inTransaction(db, async (trx) => {
        if (reserve) {
          const reserved = await reservePendingEvent(trx, workflowId, reserve.topic, reserve.messageId, id, now)
            .where((eb) =>
              eb.exists(eb.selectFrom('handler_runs').select('handler_runs.id').where('handler_runs.id', '=', id).where('phase', '=', guard.phase).where('status', '=', guard.status)),
            )
            .executeTakeFirst()
          if (affected(reserved) !== 1) {
            const run = await trx.selectFrom('handler_runs').select('id').where('id', '=', id).where('phase', '=', guard.phase).where('status', '=', guard.status).executeTakeFirst()
            return { outcome: run ? 'refused' : 'moved' }
          }
        }
        if (!(await createRunStore(trx).transition(id, guard, set))) {
          if (reserve) throw new Error(`run ${id} moved inside the write transaction that reserved its event`)
          return { outcome: 'moved' }
        }
        await createConsumerWakeupStore(trx).set(workflowId, consumerName, { ...wakeup, now })
        // Under the write lock this transaction holds: the status as of the checkpoint.
        return { outcome: 'applied', workflowStatus: (await createWorkflowStore(trx).get(workflowId))?.status }
      })
    },
    async commit(id, guard, set, effects) {
      if (!isSqlite(db)) {
        const { columns, withState, args } = commitArguments(id, guard, set, effects)
        const query = commitQuery(columns, withState)
        const row = await withTransientRetry(db, () => query.first(db, ...args))
        return Number(row?.moved ?? 0) === 1
      }
      return inTransaction(db, async (trx) => {
        const runs = createRunStore(trx)
        if (!(await runs.transition(id, guard, set))) return false
        await createEventStore(trx).consume(id, effects.now)
        if (effects.state) {
          const { workflowId, handlerName, state } = effects.state
          await createHandlerStateStore(trx).put({ workflowId, handlerName, state, runId: id, now: effects.now })
        }
        return true
      })
    },
    async commitSeeing(id, guard, set, effects, see) {
      if (isSqlite(db)) return { applied: await this.commit(id, guard, set, effects) }
      const topics = [...new Set(see.topics)]
      const handlers = [...new Set(see.handlers)]
      const { columns, withState, args } = commitArguments(id, guard, set, effects)
      const peek = see.peek
      const query = commitSeeingQuery(columns, withState, topics.length, handlers.length, peek !== undefined)
      const peekArgs = peek === undefined ? [] : [peek.topic, peek.limit]
      const rows = await withTransientRetry(db, () => query.rows(db, ...args, see.workflowId, ...topics, ...handlers, ...peekArgs))
      const moved = rows.find((r) => r.kind === 'moved')
      if (Number(moved?.a ?? 0) !== 1) return { applied: false }
      const viewRows = rows.filter((r): r is PickRow => r.kind !== 'moved')
      const view = pickViewOf(viewRows)
      if (peek !== undefined) view.pending = peekedEventsOf(viewRows, peek.topic, peek.limit)
      // The statement read the state as it was before its own upsert.
      if (effects.state && handlers.includes(effects.state.handlerName)) view.states.set(effects.state.handlerName, effects.state.state)
      return { applied: true, view }
    },
  }
}
