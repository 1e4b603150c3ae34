/**
 * Diagnostic instrumentation of one engine (never used in timed runs): counts commits, statements and evaluations
 * and attributes main-thread wall time to disjoint buckets, for the "where the time per event goes" breakdown.
 *
 * The buckets never overlap: an evaluation started ahead of its turn runs while a transaction commits, and that time
 * is the commit's. Each moment goes to the first of COMMIT, transaction, host call, evaluation that is under way.
 */
import type { Engine } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import type { EvaluationRequest, HostCallHandler } from '@ledgerflow/sandbox'

/** Totals of an instrumented interval. */
export interface Counters {
  commits: number
  transactions: number
  statements: number
  statementsInTransactions: number
  evaluations: number
  hostCalls: number
  /** Wall ms with an evaluation under way (`runner.evaluate`) and nothing of the below. */
  sandboxMs: number
  /** Wall ms inside host (tool) calls made by evaluations, outside transactions. */
  hostMs: number
  /** Wall ms inside `db.transaction`, minus COMMIT. */
  transactionMs: number
  /** Wall ms of COMMIT statements (the fsync under synchronous=FULL). */
  commitMs: number
  /** Native time of every statement (SQLite work, informational; overlaps the buckets above). */
  statementMs: number
}

const zero = (): Counters => ({
  commits: 0,
  transactions: 0,
  statements: 0,
  statementsInTransactions: 0,
  evaluations: 0,
  hostCalls: 0,
  sandboxMs: 0,
  hostMs: 0,
  transactionMs: 0,
  commitMs: 0,
  statementMs: 0,
})

type AnyFn = (...args: unknown[]) => unknown

/** Patches the engine's runner, the database's transactions and the native handle. Call before any work. */
export function instrument(engine: Engine, db: LedgerflowDb): { counters: Counters; reset(): void } {
  let c = zero()
  // What is under way now, and when time was last attributed.
  const depth = { commit: 0, transaction: 0, host: 0, evaluation: 0 }
  let last = performance.now()
  const account = () => {
    const now = performance.now()
    const ms = now - last
    last = now
    if (depth.commit > 0) c.commitMs += ms
    else if (depth.transaction > 0) c.transactionMs += ms
    else if (depth.host > 0) c.hostMs += ms
    else if (depth.evaluation > 0) c.sandboxMs += ms
  }
  const native = db.native
  if (!native) throw new Error('instrumentation needs SQLite')
  const exec = native.exec.bind(native)
  native.exec = ((sql: string) => {
    if (sql !== 'COMMIT') return exec(sql)
    account()
    depth.commit++
    try {
      return exec(sql)
    } finally {
      account()
      depth.commit--
      c.commits++
    }
  }) as typeof native.exec
  const prepare = native.prepare.bind(native)
  native.prepare = ((sql: string) => {
    const stmt = prepare(sql) as unknown as Record<string, unknown>
    for (const name of ['run', 'all', 'get']) {
      const original = (stmt[name] as AnyFn).bind(stmt)
      stmt[name] = (...args: unknown[]) => {
        const start = performance.now()
        try {
          return original(...args)
        } finally {
          c.statements++
          if (native.inTransaction) c.statementsInTransactions++
          c.statementMs += performance.now() - start
        }
      }
    }
    return stmt
  }) as unknown as typeof native.prepare
  const transaction = db.transaction.bind(db)
  ;(db as { transaction: LedgerflowDb['transaction'] }).transaction = async (fn) => {
    account()
    depth.transaction++
    try {
      return await transaction(fn)
    } finally {
      account()
      depth.transaction--
      c.transactions++
    }
  }
  const runner = engine.context.sandbox
  const evaluate = runner.evaluate.bind(runner)
  runner.evaluate = async (request: EvaluationRequest) => {
    const host: HostCallHandler = async (call) => {
      account()
      depth.host++
      try {
        return await request.host(call)
      } finally {
        account()
        depth.host--
        c.hostCalls++
      }
    }
    account()
    depth.evaluation++
    try {
      return await evaluate({ ...request, host })
    } finally {
      account()
      depth.evaluation--
      c.evaluations++
    }
  }
  return {
    get counters() {
      return c
    },
    reset() {
      account()
      c = zero()
    },
  }
}
