/**
 * Diagnostic instrumentation of one engine (never used in timed runs): counts commits, statements and evaluations
 * and attributes main-thread wall time to disjoint buckets, for the "where the time per event goes" breakdown.
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
  /** Wall ms inside `runner.evaluate`, minus host calls. */
  sandboxMs: number
  /** Wall ms inside host (tool) calls made by evaluations. */
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
  const native = db.native
  if (!native) throw new Error('instrumentation needs SQLite')
  const exec = native.exec.bind(native)
  native.exec = ((sql: string) => {
    if (sql !== 'COMMIT') return exec(sql)
    const start = performance.now()
    try {
      return exec(sql)
    } finally {
      c.commits++
      c.commitMs += performance.now() - start
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
    const start = performance.now()
    const commitBefore = c.commitMs
    try {
      return await transaction(fn)
    } finally {
      c.transactions++
      c.transactionMs += performance.now() - start - (c.commitMs - commitBefore)
    }
  }
  const runner = engine.context.sandbox
  const evaluate = runner.evaluate.bind(runner)
  runner.evaluate = async (request: EvaluationRequest) => {
    const start = performance.now()
    const hostBefore = c.hostMs
    const host: HostCallHandler = async (call) => {
      const t = performance.now()
      try {
        return await request.host(call)
      } finally {
        c.hostCalls++
        c.hostMs += performance.now() - t
      }
    }
    try {
      return await evaluate({ ...request, host })
    } finally {
      c.evaluations++
      c.sandboxMs += performance.now() - start - (c.hostMs - hostBefore)
    }
  }
  return {
    get counters() {
      return c
    },
    reset() {
      c = zero()
    },
  }
}
