/**
 * The statements of `RunStore` that create and read runs and move them by compare-and-set, each compiled once per
 * dialect and shape (see `prepareQuery`), and the pure helpers that shape their rows.
 */
import { type Compilable, sql } from 'kysely'
import type { Executor } from '../executor.js'
import { type PreparedQuery, prepareQuery, preparedFamily } from '../prepared-query.js'
import type { HandlerRun, HandlerRunUpdate, NewHandlerRun, RunPhase, RunStatus, WorkflowStatus } from '../schema.js'

/** Defaults of the run columns a new row may leave out (see the initial migration). */
const RUN_DEFAULTS = { attempt: 1, cost: 0 } as const

/**
 * Pure; the run a read returns after `row` was inserted with `ordinal`: the row's values, and the columns' defaults
 * where it left them out. A store test compares it with the row read back, on both dialects.
 */
export function insertedRun(row: Omit<NewHandlerRun, 'ordinal'>, ordinal: number): HandlerRun {
  const given = Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined))
  return { ...RUN_DEFAULTS, ...given, ordinal } as HandlerRun
}

export const asList = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? (v as readonly T[]) : [v as T])

/** Pure; the columns of `row` that kysely writes (it leaves out those set to undefined), and their values. */
export function definedColumns(row: object): { columns: string[]; values: unknown[] } {
  const entries = Object.entries(row).filter(([, value]) => value !== undefined)
  return { columns: entries.map(([column]) => column), values: entries.map(([, value]) => value) }
}

/** Pure; the object with `columns` set to `values`, in order (a prepared statement's row of stand-ins). */
export const rowOf = (columns: readonly string[], values: readonly unknown[]) => Object.fromEntries(columns.map((column, i) => [column, values[i]]))

/** Compiled run transitions by shape: the columns set, and how many phases and statuses guard it (0: none). */
const transitions = preparedFamily<unknown>()

/**
 * The compare-and-set UPDATE of a run for one shape, compiled once per dialect (see `prepareQuery`); every phase of
 * every run goes through one. Its arguments: the id, the columns' values, the phases, the statuses.
 */
export function transitionQuery(columns: readonly string[], phases: number, statuses: number): PreparedQuery<unknown[], unknown> {
  return transitions.of(`${columns.join(',')}/${phases}/${statuses}`, 1 + columns.length + phases + statuses, (db, ...args) => {
    const set = rowOf(columns, args.slice(1, 1 + columns.length)) as HandlerRunUpdate
    let q = db.updateTable('handler_runs').set(set).where('id', '=', args[0] as string)
    if (phases > 0) q = q.where('phase', 'in', args.slice(1 + columns.length, 1 + columns.length + phases) as RunPhase[])
    if (statuses > 0) q = q.where('status', 'in', args.slice(1 + columns.length + phases) as RunStatus[])
    return q
  })
}

export type NewRunRow = Omit<NewHandlerRun, 'ordinal'>

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
export function insertedNextRun(db: Executor, row: NewRunRow) {
  return db.insertInto('handler_runs').values(nextRunValues(db, row)).returning('ordinal')
}

/** PostgreSQL, one statement: inserts the next run and counts it in its session; no row when the session is missing. */
export function countedNextRun(db: Executor, row: NewRunRow) {
  return db
    .with('inserted', (qb) => qb.insertInto('handler_runs').values(nextRunValues(db, row)).returning(['ordinal', 'script_run_id']))
    .updateTable('script_runs')
    .set((eb) => ({ handler_run_count: eb('handler_run_count', '+', 1) }))
    .where('id', '=', row.script_run_id)
    .returning((eb) => eb.selectFrom('inserted').select('inserted.ordinal').as('ordinal'))
}

/** {@link countedNextRun}, also returning the workflow's status and event sequence as the statement saw them. */
export function countedNextRunSeeing(db: Executor, row: NewRunRow) {
  return countedNextRun(db, row).returning((eb) => [
    eb.selectFrom('workflows').select('workflows.status').where('workflows.id', '=', row.workflow_id).as('workflow_status'),
    eb.selectFrom('workflows').select('workflows.event_sequence').where('workflows.id', '=', row.workflow_id).as('event_sequence'),
  ])
}

/** Compiled next-run statements by the columns given (a column left undefined takes its default). */
export const nextRunInserted = preparedFamily<{ ordinal: number | string }>()
export const nextRunCounted = preparedFamily<{ ordinal: number | string | null }>()
export const nextRunSeeing = preparedFamily<{ ordinal: number | string | null; workflow_status: WorkflowStatus | null; event_sequence: number | string | null }>()

/** The statement of `build` for a row of these `columns`, compiled once per dialect (see `prepareQuery`). */
export function nextRunQuery<Row>(
  family: ReturnType<typeof preparedFamily<Row>>,
  columns: readonly string[],
  build: (db: Executor, row: NewRunRow) => Compilable<Row>,
): PreparedQuery<unknown[], Row> {
  return family.of(columns.join(','), columns.length, (db, ...args) => build(db, rowOf(columns, args) as NewRunRow))
}

/** Compiled once per dialect (see `prepareQuery`): read at every checkpoint. */
export const runById = prepareQuery(1, (db, id: string) => db.selectFrom('handler_runs').selectAll().where('id', '=', id))
/** One more run in the session's count (SQLite; PostgreSQL does it in the insert's statement). */
export const countRun = prepareQuery(1, (db, sessionId: string) =>
  db
    .updateTable('script_runs')
    .set((eb) => ({ handler_run_count: eb('handler_run_count', '+', 1) }))
    .where('id', '=', sessionId),
)
export const consumerRunCount = prepareQuery(1, (db, sessionId: string) =>
  db
    .selectFrom('handler_runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('script_run_id', '=', sessionId)
    .where('handler_type', '=', 'consumer'),
)

