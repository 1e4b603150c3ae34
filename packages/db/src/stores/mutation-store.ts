import { sql } from 'kysely'
import { isSqlite } from '../dialects/detect.js'
import { type Executor, affected, inTransaction, withTransientRetry } from '../executor.js'
import { prepareQuery, preparedFamily } from '../prepared-query.js'
import type { Mutation, MutationStatus, MutationUpdate, NewMutation, RunPhase, RunStatus } from '../schema.js'

/** Fields a ledger transition may set. `status` is required; `updated_at` is the transition time. */
export interface MutationChange {
  status: MutationStatus
  result?: string | null
  error?: string | null
  errorType?: Mutation['error_type']
  reconcileAttempts?: number
  nextReconcileAt?: number | null
  resolvedBy?: string | null
  resolvedAt?: number | null
  now: number
}

/** What a ledger write does to the mutation's run in the same atomic step: a compare-and-set of its phase. */
export interface RunMove {
  runId: string
  /** The run's phase and status now; the move applies only if both still hold. */
  from: { phase: RunPhase; status: RunStatus }
  /** The run's new phase, and attempt when given. */
  to: { phase: RunPhase; attempt?: number }
}

/** What {@link MutationStore.transitionMoving} changes: the ledger row's transition and its run's move. */
export interface TransitionMovingRequest {
  /** The ledger row. */
  id: string
  /** The statuses the row may move from (never `applied`). */
  from: readonly Exclude<MutationStatus, 'applied'>[]
  change: MutationChange
  move: RunMove
}

/** The mutation ledger. An `applied` row never changes: no transition starts from `applied`. */
export interface MutationStore {
  insert(row: NewMutation): Promise<void>
  get(id: string): Promise<Mutation | undefined>
  getByRun(runId: string): Promise<Mutation | undefined>
  listByWorkflow(workflowId: string, options?: { status?: MutationStatus; limit?: number }): Promise<Mutation[]>
  listByStatus(status: MutationStatus): Promise<Mutation[]>
  /** Compare-and-set on the status (`from` must not contain `applied`); returns whether it applied. */
  transition(id: string, from: readonly Exclude<MutationStatus, 'applied'>[], change: MutationChange): Promise<boolean>
  /**
   * Inserts a ledger row and moves its run, atomically: the row is written only if the run's move applies. Returns
   * whether it did (false: nothing was written). One statement on PostgreSQL, a transaction on SQLite.
   */
  insertMoving(row: NewMutation, move: RunMove): Promise<boolean>
  /**
   * {@link transition} (`id`, `from`, `change`), and when it applies, the run's `move` in the same atomic step (which,
   * like `runs.transition`, may itself not apply). Returns whether the ledger row changed (false: nothing was written).
   * One statement on PostgreSQL, a transaction on SQLite.
   */
  transitionMoving(request: TransitionMovingRequest): Promise<boolean>
}

/**
 * Pure; the row a read returns after `row` was inserted: its values, and the defaults of the columns it left out.
 * A store test compares it with the row read back, on both dialects.
 */
export function insertedMutation(row: NewMutation): Mutation {
  const given = Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined))
  return { ...MUTATION_DEFAULTS, ...given } as Mutation
}

/** Pure; `row` after a transition with `change` applied to it (the same columns `transition` sets). */
export function changedMutation(row: Mutation, change: MutationChange): Mutation {
  return { ...row, ...changeColumns(change) } as Mutation
}

/** Defaults of the ledger columns a new row may leave out (see the initial migration). */
const MUTATION_DEFAULTS = {
  result: null,
  error: null,
  error_type: null,
  ui_title: null,
  reconcile_attempts: 0,
  next_reconcile_at: null,
  resolved_by: null,
  resolved_at: null,
} as const

/** Pure; the columns a ledger transition sets. */
function changeColumns(change: MutationChange): MutationUpdate {
  return {
    status: change.status,
    updated_at: change.now,
    ...(change.result !== undefined ? { result: change.result } : {}),
    ...(change.error !== undefined ? { error: change.error } : {}),
    ...(change.errorType !== undefined ? { error_type: change.errorType } : {}),
    ...(change.reconcileAttempts !== undefined ? { reconcile_attempts: change.reconcileAttempts } : {}),
    ...(change.nextReconcileAt !== undefined ? { next_reconcile_at: change.nextReconcileAt } : {}),
    ...(change.resolvedBy !== undefined ? { resolved_by: change.resolvedBy } : {}),
    ...(change.resolvedAt !== undefined ? { resolved_at: change.resolvedAt } : {}),
  }
}

/** Pure; the run columns a move sets. */
function moveColumns(move: RunMove): { phase: RunPhase; attempt?: number } {
  return move.to.attempt === undefined ? { phase: move.to.phase } : { phase: move.to.phase, attempt: move.to.attempt }
}

/** The run's compare-and-set UPDATE: run on its own (SQLite, in the store's transaction) or in a WITH (PostgreSQL). */
function moveRun(db: Executor, move: RunMove) {
  return db
    .updateTable('handler_runs')
    .set(moveColumns(move))
    .where('id', '=', move.runId)
    .where('phase', '=', move.from.phase)
    .where('status', '=', move.from.status)
}

/**
 * Pure; a {@link RunMove} of a compiled statement's run arguments (the run id, its phase and status, the new phase,
 * then the attempt only when `withAttempt`).
 */
function moveOf(args: readonly unknown[], withAttempt: boolean): RunMove {
  const [runId, phase, status, toPhase, attempt] = args as [string, RunPhase, RunStatus, RunPhase, number?]
  return { runId, from: { phase, status }, to: withAttempt ? { phase: toPhase, attempt: attempt! } : { phase: toPhase } }
}

/** Pure; the columns of `row` that are set, and their values, in a stable order. */
function definedEntries(row: object): Array<[string, unknown]> {
  return Object.entries(row).filter(([, value]) => value !== undefined)
}

/** PostgreSQL statements by shape (the columns written), compiled once per dialect (see `prepareQuery`). */
const insertMovingQueries = preparedFamily<{ id: string }>()
const transitionMovingQueries = preparedFamily<{ n: number | string }>()

/**
 * PostgreSQL, one statement: the run's compare-and-set in a WITH, and the insert of the row selected from it, so the
 * row exists only if the run moved. Arguments: the row's values, the run id, its phase and status, the new phase
 * (and attempt).
 */
function insertMovingQuery(columns: readonly string[], withAttempt: boolean) {
  const arity = columns.length + 4 + (withAttempt ? 1 : 0)
  return insertMovingQueries.of(`${columns.join(',')}/${withAttempt}`, arity, (db, ...args) => {
    const values = args.slice(0, columns.length)
    return db
      .with('moved', () => moveRun(db, moveOf(args.slice(columns.length), withAttempt)).returning('id'))
      .insertInto('mutations')
      .columns(columns as Array<keyof NewMutation & string>)
      .expression((eb) => eb.selectFrom('moved').select(columns.map((column, i) => eb.val(values[i]).as(column))))
      .returning('mutations.id')
  })
}

/**
 * PostgreSQL, one statement: the ledger row's compare-and-set and the run's, the run's guarded on the row's having
 * moved; returns how many ledger rows moved. Arguments: the row's new values, its id, the statuses it may move from,
 * the run id, its phase and status, the new phase (and attempt).
 */
function transitionMovingQuery(columns: readonly string[], fromCount: number, withAttempt: boolean) {
  const arity = columns.length + 1 + fromCount + 4 + (withAttempt ? 1 : 0)
  return transitionMovingQueries.of(`${columns.join(',')}/${fromCount}/${withAttempt}`, arity, (db, ...args) => {
    const set = Object.fromEntries(columns.map((column, i) => [column, args[i]])) as MutationUpdate
    const id = args[columns.length] as string
    const from = args.slice(columns.length + 1, columns.length + 1 + fromCount) as MutationStatus[]
    const move = moveOf(args.slice(columns.length + 1 + fromCount), withAttempt)
    return db
      .with('ledger', (qb) => qb.updateTable('mutations').set(set).where('id', '=', id).where('status', 'in', from).returning('id'))
      .with('run', () =>
        moveRun(db, move)
          .where(sql<boolean>`exists (select 1 from ledger)`)
          .returning('handler_runs.id'),
      )
      .selectFrom('ledger')
      .select((eb) => eb.fn.countAll<number>().as('n'))
  })
}

/** Compiled once per dialect (see `prepareQuery`): every mutate phase looks its ledger row up. */
const mutationByRun = prepareQuery(1, (db, runId: string) => db.selectFrom('mutations').selectAll().where('handler_run_id', '=', runId))

/** Creates the {@link MutationStore} over `db`. */
export function createMutationStore(db: Executor): MutationStore {
  return {
    async insert(row) {
      await db.insertInto('mutations').values(row).execute()
    },
    get(id) {
      return db.selectFrom('mutations').selectAll().where('id', '=', id).executeTakeFirst()
    },
    getByRun(runId) {
      return mutationByRun.first(db, runId)
    },
    listByWorkflow(workflowId, options = {}) {
      let q = db.selectFrom('mutations').selectAll().where('workflow_id', '=', workflowId)
      if (options.status) q = q.where('status', '=', options.status)
      return q.orderBy('created_at', 'desc').orderBy('id').limit(options.limit ?? 1000).execute()
    },
    listByStatus(status) {
      return db.selectFrom('mutations').selectAll().where('status', '=', status).orderBy('created_at').execute()
    },
    async transition(id, from, change) {
      const allowed = from.filter((s) => (s as MutationStatus) !== 'applied')
      if (allowed.length === 0) return false
      const result = await db.updateTable('mutations').set(changeColumns(change)).where('id', '=', id).where('status', 'in', allowed).executeTakeFirst()
      return affected(result) === 1
    },
    async insertMoving(row, move) {
      const run = [move.runId, move.from.phase, move.from.status, move.to.phase, ...(move.to.attempt === undefined ? [] : [move.to.attempt])]
      if (!isSqlite(db)) {
        const entries = definedEntries(row)
        const query = insertMovingQuery(
          entries.map(([column]) => column),
          move.to.attempt !== undefined,
        )
        return (await withTransientRetry(db, () => query.first(db, ...entries.map(([, value]) => value), ...run))) !== undefined
      }
      return inTransaction(db, async (trx) => {
        if (affected(await moveRun(trx, move).executeTakeFirst()) !== 1) return false
        await trx.insertInto('mutations').values(row).execute()
        return true
      })
    },
    async transitionMoving({ id, from, change, move }) {
      const allowed = from.filter((s) => (s as MutationStatus) !== 'applied')
      if (allowed.length === 0) return false
      if (!isSqlite(db)) {
        const entries = definedEntries(changeColumns(change))
        const query = transitionMovingQuery(
          entries.map(([column]) => column),
          allowed.length,
          move.to.attempt !== undefined,
        )
        const run = [move.runId, move.from.phase, move.from.status, move.to.phase, ...(move.to.attempt === undefined ? [] : [move.to.attempt])]
        const row = await withTransientRetry(db, () => query.first(db, ...entries.map(([, value]) => value), id, ...allowed, ...run))
        return Number(row?.n ?? 0) === 1
      }
      return inTransaction(db, async (trx) => {
        const result = await trx.updateTable('mutations').set(changeColumns(change)).where('id', '=', id).where('status', 'in', allowed).executeTakeFirst()
        if (affected(result) !== 1) return false
        await moveRun(trx, move).executeTakeFirst()
        return true
      })
    },
  }
}
