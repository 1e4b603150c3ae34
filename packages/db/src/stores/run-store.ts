import { isSqlite } from '../dialects/detect.js'
import { NotFoundError } from '../errors.js'
import { type Executor, affected, inTransaction, withTransientRetry } from '../executor.js'
import { type HandlerRun, type HandlerRunUpdate, type NewHandlerRun, type RunPhase, type RunStatus, UNFINISHED_RUN_STATUSES, type WorkflowStatus } from '../schema.js'
import { createConsumerWakeupStore } from './consumer-wakeup-store.js'
import { reservePendingEvent } from './event-reservation-queries.js'
import { createEventStore } from './event-store.js'
import { createHandlerStateStore } from './handler-state-store.js'
import { type PickRow, type PickView, peekedEventsOf, pickViewOf } from './pick-view.js'
import { type CommitRequest, type PrepareRequest, commitArguments, commitQuery, commitSeeingQuery, prepareCheckpointQuery } from './run-checkpoint-queries.js'
import {
  asList,
  consumerRunCount,
  countRun,
  countedNextRun,
  countedNextRunSeeing,
  definedColumns,
  insertedNextRun,
  insertedRun,
  nextRunCounted,
  nextRunInserted,
  nextRunQuery,
  nextRunSeeing,
  runById,
  transitionQuery,
} from './run-queries.js'
import { createWorkflowStore } from './workflow-store.js'

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
   * A run's commit checkpoint in one atomic step: {@link transition} (from exactly `guard`'s phase and status), and
   * only if it applies, its reserved events consumed and its handler's new state stored (`effects`). Returns whether it applied
   * (false: nothing was written). One statement on PostgreSQL, a transaction on SQLite; composes into a caller's
   * transaction.
   */
  commit(request: CommitRequest): Promise<boolean>
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
   *
   * `request` is what {@link RunStore.commit} takes; `see` names the workflow, topics and handlers of the view.
   */
  commitSeeing(
    request: CommitRequest,
    see: { workflowId: string; topics: readonly string[]; handlers: readonly string[]; peek?: { topic: string; limit: number } },
  ): Promise<{ applied: boolean; view?: PickView }>
  /**
   * A consumer run's prepared checkpoint in one atomic step: {@link transition} (from exactly `guard`'s phase and
   * status), and from `effects` the reservation of at most one event and the consumer's wake-up row (with the
   * workflow's sleep), all or nothing.
   * Its `outcome` is `applied`, `moved` (the run was not where the guard expects it) or `refused` (the event was not
   * pending); after `moved` or `refused` nothing was written. With `applied` comes the workflow's status as the step
   * saw it, which spares the run's next turn its own read of the workflow (an operator's pause is seen as well at this
   * checkpoint as in a read just after it). One statement on PostgreSQL (the run's row locked first, so no
   * part can apply without the others), a transaction on SQLite; composes into a caller's transaction.
   */
  prepare(request: PrepareRequest): Promise<RunPrepareResult>
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
    async prepare({ id, guard, set, effects }) {
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
          const reserved = await reservePendingEvent(trx, { workflowId, topic: reserve.topic, messageId: reserve.messageId, runId: id, now })
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
    async commit(request) {
      const { id, guard, set, effects } = request
      if (!isSqlite(db)) {
        const { columns, withState, args } = commitArguments(request)
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
    async commitSeeing(request, see) {
      if (isSqlite(db)) return { applied: await this.commit(request) }
      const { effects } = request
      const topics = [...new Set(see.topics)]
      const handlers = [...new Set(see.handlers)]
      const { columns, withState, args } = commitArguments(request)
      const peek = see.peek
      const query = commitSeeingQuery({ columns, withState, topics: topics.length, handlers: handlers.length, peek: peek !== undefined })
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
