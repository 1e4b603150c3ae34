/**
 * Queries that kysely builds and compiles once per dialect, then runs many times with new parameter values.
 *
 * Building and compiling a query with kysely costs 50–70 µs on the 2-core VM, about what SQLite takes to run it, and
 * the engine's hottest statements (reading a workflow, a run, a handler's state, the pending events of a topic) run
 * several times per event. A prepared query is built once with stand-ins for its arguments; the compiled SQL is
 * kept, and each execution only binds the arguments where the stand-ins were. The SQL is still kysely's: nothing is
 * written by hand, and no value ever goes into the SQL text.
 *
 * Only statements whose shape does not depend on their arguments qualify: a list whose length varies (`in (...)`),
 * a column set only when a value is defined, or an argument used for anything but a value would each change the SQL.
 * Compiling checks that every argument became a bound parameter, and throws otherwise.
 */
import type { Compilable, CompiledQuery, DialectAdapter, QueryResult } from 'kysely'
import type { Executor } from './executor.js'

/** Stands for the `index`-th argument while the query is built; never reaches the database. */
class ArgumentSlot {
  constructor(readonly index: number) {}
}

/** The compiled query of one dialect, with its parameters: values, or the slot of an argument. */
type Template = Omit<CompiledQuery<unknown>, 'parameters'> & { parameters: readonly unknown[] }

/** A query compiled once per dialect (see the module comment). */
export interface PreparedQuery<Args extends readonly unknown[], Row> {
  /** Runs the query on `db` (the database or a transaction) with `args`. */
  execute(db: Executor, ...args: Args): Promise<QueryResult<Row>>
  /** The rows it returns. */
  rows(db: Executor, ...args: Args): Promise<Row[]>
  /** The first row it returns, if any. */
  first(db: Executor, ...args: Args): Promise<Row | undefined>
  /** The number of rows an UPDATE, DELETE or INSERT changed. */
  affected(db: Executor, ...args: Args): Promise<number>
}

/**
 * Declares a prepared query of `arity` arguments. `build` gets stand-ins for the arguments and must use each of them
 * as a value of the query (once or more).
 *
 * ### Examples
 * ```ts
 * const runById = prepareQuery(1, (db, id: string) => db.selectFrom('handler_runs').selectAll().where('id', '=', id))
 * const run = await runById.first(db, 'run-1')
 * ```
 */
export function prepareQuery<Args extends readonly unknown[], Row>(
  arity: Args['length'],
  build: (db: Executor, ...args: Args) => Compilable<Row>,
): PreparedQuery<Args, Row> {
  const templates = new WeakMap<DialectAdapter, Template>()
  const templateFor = (db: Executor): Template => {
    const adapter = db.getExecutor().adapter
    let template = templates.get(adapter)
    if (template === undefined) {
      template = compileTemplate(db, arity, build as unknown as (db: Executor, ...slots: unknown[]) => Compilable<unknown>)
      templates.set(adapter, template)
    }
    return template
  }
  const execute = (db: Executor, ...args: Args): Promise<QueryResult<Row>> => {
    const template = templateFor(db)
    const parameters = template.parameters.map((p) => (p instanceof ArgumentSlot ? args[p.index] : p))
    return db.executeQuery<Row>({ ...template, parameters } as CompiledQuery<Row>)
  }
  return {
    execute,
    async rows(db, ...args) {
      return (await execute(db, ...args)).rows
    },
    async first(db, ...args) {
      return (await execute(db, ...args)).rows[0]
    },
    async affected(db, ...args) {
      return Number((await execute(db, ...args)).numAffectedRows ?? 0n)
    },
  }
}

/** Builds and compiles the query with a stand-in per argument, and checks that each became a parameter. */
function compileTemplate(db: Executor, arity: number, build: (db: Executor, ...slots: unknown[]) => Compilable<unknown>): Template {
  const slots = Array.from({ length: arity }, (_, i) => new ArgumentSlot(i))
  const compiled = build(db, ...slots).compile()
  const uses = new Array<number>(arity).fill(0)
  for (const p of compiled.parameters) if (p instanceof ArgumentSlot) uses[p.index]!++
  const wrong = uses.findIndex((n) => n === 0)
  if (wrong !== -1) {
    throw new Error(`prepareQuery: argument ${wrong} is not a parameter of "${compiled.sql}" (each argument must be used as a value)`)
  }
  return { ...compiled, parameters: [...compiled.parameters] }
}

/**
 * A family of prepared queries whose SQL depends on a shape: the columns an update sets, the length of an `in (...)`
 * list. `of(shape, arity, build)` returns the family's prepared query for `shape`, declaring it on first use with
 * `build`, which must build that shape. A family keeps at most `limit` shapes and forgets them all when it is full
 * (the engine's families have a few dozen at most).
 *
 * ### Examples
 * ```ts
 * const byIds = preparedFamily<{ id: string }>()
 * const ids = ['e1', 'e2']
 * const rows = await byIds
 *   .of(String(ids.length), ids.length, (db, ...slots) => db.selectFrom('events').select('id').where('id', 'in', slots as string[]))
 *   .rows(db, ...ids)
 * ```
 */
export function preparedFamily<Row>(limit = 128): {
  of(shape: string, arity: number, build: (db: Executor, ...args: unknown[]) => Compilable<Row>): PreparedQuery<unknown[], Row>
} {
  const queries = new Map<string, PreparedQuery<unknown[], Row>>()
  return {
    of(shape, arity, build) {
      let query = queries.get(shape)
      if (query === undefined) {
        if (queries.size >= limit) queries.clear()
        query = prepareQuery<unknown[], Row>(arity, build)
        queries.set(shape, query)
      }
      return query
    },
  }
}
