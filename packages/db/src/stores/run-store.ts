import { type Executor, affected } from '../executor.js'
import {
  type HandlerRun,
  type HandlerRunUpdate,
  type NewHandlerRun,
  type RunPhase,
  type RunStatus,
  UNFINISHED_RUN_STATUSES,
} from '../schema.js'

/** The expected current state of a run, for a guarded transition. */
export interface RunGuard {
  phase?: RunPhase | readonly RunPhase[]
  status?: RunStatus | readonly RunStatus[]
}

/** Reads and guarded transitions of `handler_runs`. */
export interface RunStore {
  insert(row: NewHandlerRun): Promise<void>
  get(id: string): Promise<HandlerRun | undefined>
  /** Runs of a session in the order they were created. */
  listBySession(sessionId: string): Promise<HandlerRun[]>
  /** Active, waiting and paused runs of a workflow, oldest first (at most one, by constraint). */
  listUnfinished(workflowId: string): Promise<HandlerRun[]>
  listByWorkflow(workflowId: string, options?: { limit?: number; status?: RunStatus }): Promise<HandlerRun[]>
  /** The next 1-based ordinal of a session's runs. */
  nextOrdinal(sessionId: string): Promise<number>
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
}

const asList = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? (v as readonly T[]) : [v as T])

/** Creates the {@link RunStore} over `db`. */
export function createRunStore(db: Executor): RunStore {
  return {
    async insert(row) {
      await db.insertInto('handler_runs').values(row).execute()
    },
    get(id) {
      return db.selectFrom('handler_runs').selectAll().where('id', '=', id).executeTakeFirst()
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
    async nextOrdinal(sessionId) {
      const row = await db
        .selectFrom('handler_runs')
        .select((eb) => eb.fn.max('ordinal').as('m'))
        .where('script_run_id', '=', sessionId)
        .executeTakeFirst()
      return Number(row?.m ?? 0) + 1
    },
    async countConsumerRuns(sessionId) {
      const row = await db
        .selectFrom('handler_runs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('script_run_id', '=', sessionId)
        .where('handler_type', '=', 'consumer')
        .executeTakeFirst()
      return Number(row?.n ?? 0)
    },
    async transition(id, guard, set) {
      const phases = guard.phase === undefined ? undefined : asList(guard.phase)
      const statuses = guard.status === undefined ? undefined : asList(guard.status)
      // An empty list matches nothing (and `in ()` is a syntax error on PostgreSQL).
      if (phases?.length === 0 || statuses?.length === 0) return false
      let q = db.updateTable('handler_runs').set(set).where('id', '=', id)
      if (phases) q = q.where('phase', 'in', phases)
      if (statuses) q = q.where('status', 'in', statuses)
      return affected(await q.executeTakeFirst()) === 1
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
  }
}
