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
  const native = db.native
  if (!native) throw new Error('instrumentation needs SQLite')
  const meter = createMeter()
  meterCommits(native, meter)
  meterStatements(native, meter)
  meterTransactions(db, meter)
  meterEvaluations(engine, meter)
  return {
    get counters() {
      return meter.counters
    },
    reset() {
      meter.account()
      meter.counters = zero()
    },
  }
}

/** The native SQLite handle. */
type Native = NonNullable<LedgerflowDb['native']>

/** The counters of the interval, what is under way now, and the attribution of wall time to it. */
interface Meter {
  /** Replaced on reset: the patches read it at each count. */
  counters: Counters
  /** What is under way now. */
  depth: { commit: number; transaction: number; host: number; evaluation: number }
  /** Attributes the wall time since it was last attributed to the first bucket under way (see the module comment). */
  account(): void
}

function createMeter(): Meter {
  // When time was last attributed.
  let last = performance.now()
  const meter: Meter = {
    counters: zero(),
    depth: { commit: 0, transaction: 0, host: 0, evaluation: 0 },
    account() {
      const now = performance.now()
      const ms = now - last
      last = now
      const { depth, counters: c } = meter
      if (depth.commit > 0) c.commitMs += ms
      else if (depth.transaction > 0) c.transactionMs += ms
      else if (depth.host > 0) c.hostMs += ms
      else if (depth.evaluation > 0) c.sandboxMs += ms
    },
  }
  return meter
}

/** COMMIT statements: their wall time is the commit bucket. */
function meterCommits(native: Native, meter: Meter): void {
  const exec = native.exec.bind(native)
  native.exec = ((sql: string) => {
    if (sql !== 'COMMIT') return exec(sql)
    meter.account()
    meter.depth.commit++
    try {
      return exec(sql)
    } finally {
      meter.account()
      meter.depth.commit--
      meter.counters.commits++
    }
  }) as typeof native.exec
}

/** Every prepared statement's `run`, `all` and `get`: counted, and their native time summed. */
function meterStatements(native: Native, meter: Meter): void {
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
          const c = meter.counters
          c.statements++
          if (native.inTransaction) c.statementsInTransactions++
          c.statementMs += performance.now() - start
        }
      }
    }
    return stmt
  }) as unknown as typeof native.prepare
}

/** `db.transaction`: its wall time is the transaction bucket (minus COMMIT). */
function meterTransactions(db: LedgerflowDb, meter: Meter): void {
  const transaction = db.transaction.bind(db)
  ;(db as { transaction: LedgerflowDb['transaction'] }).transaction = async (fn) => {
    meter.account()
    meter.depth.transaction++
    try {
      return await transaction(fn)
    } finally {
      meter.account()
      meter.depth.transaction--
      meter.counters.transactions++
    }
  }
}

/** The runner's evaluations and the host calls they make: the evaluation and host buckets. */
function meterEvaluations(engine: Engine, meter: Meter): void {
  const runner = engine.context.sandbox
  const evaluate = runner.evaluate.bind(runner)
  runner.evaluate = async (request: EvaluationRequest) => {
    const host: HostCallHandler = async (call) => {
      meter.account()
      meter.depth.host++
      try {
        return await request.host(call)
      } finally {
        meter.account()
        meter.depth.host--
        meter.counters.hostCalls++
      }
    }
    meter.account()
    meter.depth.evaluation++
    try {
      return await evaluate({ ...request, host })
    } finally {
      meter.account()
      meter.depth.evaluation--
      meter.counters.evaluations++
    }
  }
}
