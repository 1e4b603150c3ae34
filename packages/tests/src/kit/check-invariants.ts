/**
 * The invariants of SPEC §13, checked against the database. Every test, benchmark and fault campaign runs this.
 * It reads only; it never repairs.
 */
import type { LedgerflowDb } from '@ledgerflow/db'
import { type LedgerSnapshot, checkLedgerUnchanged, ledgerSnapshot } from './ledger-snapshot.js'
import type { EffectLog } from './recording-tool.js'

/**
 * The effect log of one mutation tool (a {@link RecordingTool} is one). Knowing which tool wrote which effects lets
 * the check compare the ledger with the outside world, key by key.
 */
export interface ToolEffects {
  /** The tool (`{ id: 'Email.send' }`, a `Tool`) or its id. */
  tool: string | { readonly id: string }
  effects: EffectLog
}

/** One broken invariant. */
export interface Violation {
  /** The SPEC §13 invariant number. */
  invariant: 1 | 2 | 3 | 4 | 5 | 6
  message: string
}

/** Options of {@link checkInvariants}. */
export interface InvariantOptions {
  /**
   * The engine is at rest (after recovery, no worker running): no session may be open and no run `active`.
   * Default true.
   */
  quiescent?: boolean
  /**
   * Effect logs of mutation tools. A bare {@link EffectLog}: no idempotency key may have been applied twice. A
   * {@link ToolEffects} (e.g. a `RecordingTool`) also checks the ledger against the world: every effect has a ledger
   * row of that tool with its key; an `applied` row has exactly one effect; a definite `failed` row has none (rows
   * an operator resolved are taken at the operator's word).
   */
  effects?: ReadonlyArray<EffectLog | ToolEffects>
  /** A {@link ledgerSnapshot} taken earlier: every row applied then must be unchanged now (§13.3). */
  previous?: LedgerSnapshot
}

/**
 * Checks SPEC §13 against the database and returns the violations (empty when all hold).
 *
 * ### Examples
 * ```ts
 * expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
 * ```
 */
export async function checkInvariants(db: LedgerflowDb, options: InvariantOptions = {}): Promise<Violation[]> {
  const quiescent = options.quiescent ?? true
  const k = db.kysely
  const out: Violation[] = []
  const v = (invariant: Violation['invariant'], message: string) => out.push({ invariant, message })

  // 1. At most one open session and at most one unfinished run per workflow; at rest, none at all.
  for (const r of await k.selectFrom('script_runs').select((eb) => ['workflow_id', eb.fn.countAll<number>().as('n')]).where('end_timestamp', 'is', null).groupBy('workflow_id').execute()) {
    if (Number(r.n) > 1) v(1, `workflow ${r.workflow_id} has ${r.n} open sessions`)
    else if (quiescent) v(1, `workflow ${r.workflow_id} has an open session at rest`)
  }
  for (const r of await k.selectFrom('handler_runs').select((eb) => ['workflow_id', eb.fn.countAll<number>().as('n')]).where('status', 'in', ['active', 'waiting', 'paused']).groupBy('workflow_id').execute()) {
    if (Number(r.n) > 1) v(1, `workflow ${r.workflow_id} has ${r.n} unfinished runs`)
  }
  if (quiescent) {
    for (const r of await k.selectFrom('handler_runs').select(['id', 'workflow_id']).where('status', '=', 'active').execute()) {
      v(1, `run ${r.id} of ${r.workflow_id} is active with no owner at rest`)
    }
  }
  for (const s of await k.selectFrom('script_runs').select(['id', 'owner']).where('end_timestamp', 'is', null).where('owner', 'is', null).execute()) {
    v(1, `open session ${s.id} has no owner`)
  }

  // 2. Events: reserved only by a run that can still move (unfinished, or failed after its mutation in a workflow
  //    waiting for an operator); consumed/skipped by the run that held them.
  const held = await k
    .selectFrom('events')
    .leftJoin('handler_runs as r', 'r.id', 'events.reserved_by_run_id')
    .leftJoin('workflows as w', 'w.id', 'events.workflow_id')
    .select(['events.id', 'events.status', 'events.message_id', 'r.id as run', 'r.status as runStatus', 'r.phase as runPhase', 'w.status as workflowStatus'])
    .where('events.status', 'in', ['reserved', 'consumed', 'skipped'])
    .execute()
  for (const e of await k.selectFrom('events').select(['id', 'message_id']).where('status', '=', 'pending').where('reserved_by_run_id', 'is not', null).execute()) {
    v(2, `event ${e.id} (${e.message_id}) is pending but names a reserving run`)
  }
  const retried = new Set((await k.selectFrom('handler_runs').select('retry_of').where('retry_of', 'is not', null).execute()).map((r) => r.retry_of))
  for (const e of held) {
    if (e.status === 'consumed' || e.status === 'skipped') {
      if (e.runStatus !== 'committed') v(2, `event ${e.id} (${e.message_id}) is ${e.status} but its run ${e.run} is ${e.runStatus}`)
      continue
    }
    if (!e.run) v(2, `event ${e.id} is reserved by no run`)
    else if (e.runStatus === 'committed') v(2, `event ${e.id} is still reserved by committed run ${e.run}`)
    else if (e.runStatus === 'failed') {
      if (retried.has(e.run)) v(2, `event ${e.id} is reserved by failed run ${e.run}, which was retried by another run`)
      else if (e.workflowStatus !== 'error' && e.workflowStatus !== 'paused') {
        v(2, `event ${e.id} is reserved by failed run ${e.run} but workflow is ${e.workflowStatus}: nothing will move it`)
      }
    } else if (quiescent && e.runStatus === 'active') v(2, `event ${e.id} is reserved by run ${e.run}, active with no owner`)
  }

  // 3. Ledger: a run at mutating has its row; a committed consumer's row is settled; no effect applied twice.
  const ledger = await k
    .selectFrom('mutations as m')
    .innerJoin('handler_runs as r', 'r.id', 'm.handler_run_id')
    .select(['m.id', 'm.status', 'r.id as run', 'r.status as runStatus', 'r.phase as runPhase'])
    .execute()
  for (const m of ledger) {
    if (m.runStatus === 'committed' && m.status !== 'applied' && m.status !== 'skipped') v(3, `mutation ${m.id} is ${m.status} but its run ${m.run} committed`)
    if (m.status === 'applied' && (m.runPhase === 'prepared' || m.runPhase === 'preparing' || m.runPhase === 'pending')) v(3, `mutation ${m.id} is applied but its run is at ${m.runPhase}`)
    if (quiescent && m.status === 'in_flight' && m.runStatus !== 'waiting') v(3, `mutation ${m.id} is in_flight at rest and its run ${m.run} is ${m.runStatus}`)
  }
  const mutating = await k
    .selectFrom('handler_runs as r')
    .leftJoin('mutations as m', 'm.handler_run_id', 'r.id')
    .select(['r.id', 'm.id as mutation'])
    .where('r.phase', '=', 'mutating')
    .execute()
  for (const r of mutating) if (!r.mutation) v(3, `run ${r.id} is at mutating without a ledger row`)
  for (const r of await k.selectFrom('mutations').select((eb) => ['handler_run_id', eb.fn.countAll<number>().as('n')]).groupBy('handler_run_id').execute()) {
    if (Number(r.n) > 1) v(3, `run ${r.handler_run_id} has ${r.n} ledger rows`)
  }
  for (const item of options.effects ?? []) {
    const log = 'apply' in item ? item : item.effects
    for (const e of log.entries()) if (e.count > 1) v(3, `effect ${e.key} was applied ${e.count} times`)
    if (!('apply' in item)) for (const m of await checkWorld(db, item)) v(3, m)
  }
  if (options.previous) for (const m of checkLedgerUnchanged(options.previous, await ledgerSnapshot(db))) v(3, m)

  // 4. A run that did not commit published nothing and changed no state.
  const published = await k
    .selectFrom('events')
    .innerJoin('handler_runs as r', 'r.id', 'events.created_by_run_id')
    .select(['events.id', 'r.id as run', 'r.status'])
    .where('r.status', '!=', 'committed')
    .execute()
  for (const p of published) v(4, `event ${p.id} was published by run ${p.run}, which is ${p.status}`)
  const states = await k
    .selectFrom('handler_state')
    .innerJoin('handler_runs as r', 'r.id', 'handler_state.updated_by_run_id')
    .select(['handler_state.workflow_id', 'handler_state.handler_name', 'r.id as run', 'r.status'])
    .where('r.status', '!=', 'committed')
    .execute()
  for (const s of states) v(4, `state of ${s.workflow_id}/${s.handler_name} was written by run ${s.run}, which is ${s.status}`)

  // Sessions: closed sessions have no active run of theirs (at rest), and their counters match their runs.
  if (quiescent) {
    const cost = await k
      .selectFrom('script_runs as s')
      .select((eb) => [
        's.id',
        's.cost',
        eb.selectFrom('handler_runs').select((x) => x.fn.coalesce(x.fn.sum<number>('cost'), x.lit(0)).as('c')).whereRef('script_run_id', '=', 's.id').as('sum'),
      ])
      .where('s.end_timestamp', 'is not', null)
      .execute()
    for (const s of cost) {
      if (Number(s.cost) > Number(s.sum)) v(5, `session ${s.id} reports cost ${s.cost}, more than its runs' ${s.sum}`)
    }
    const counts = await k
      .selectFrom('script_runs as s')
      .select((eb) => ['s.id', 's.handler_run_count', eb.selectFrom('handler_runs').select((x) => x.fn.countAll<number>().as('n')).whereRef('script_run_id', '=', 's.id').as('n')])
      .where('s.end_timestamp', 'is not', null)
      .execute()
    for (const s of counts) {
      if (Number(s.handler_run_count) !== Number(s.n)) v(5, `session ${s.id} reports ${s.handler_run_count} runs but has ${s.n}`)
    }
  }
  return out
}

/** The ledger of one tool against its effect log (see {@link InvariantOptions.effects}). */
async function checkWorld(db: LedgerflowDb, item: ToolEffects): Promise<string[]> {
  const id = typeof item.tool === 'string' ? item.tool : item.tool.id
  const [namespace, method] = [id.slice(0, id.lastIndexOf('.')), id.slice(id.lastIndexOf('.') + 1)]
  const rows = await db.kysely
    .selectFrom('mutations')
    .select(['id', 'status', 'idempotency_key', 'resolved_by'])
    .where('tool_namespace', '=', namespace)
    .where('tool_method', '=', method)
    .execute()
  const out: string[] = []
  const byKey = new Map(rows.map((r) => [r.idempotency_key, r]))
  for (const e of item.effects.entries()) {
    if (!byKey.has(e.key)) out.push(`effect ${e.key} of ${id} has no ledger row: it was executed without a record`)
  }
  for (const r of rows) {
    const n = item.effects.count(r.idempotency_key)
    if (r.resolved_by !== null) continue
    if (r.status === 'applied' && n !== 1) out.push(`mutation ${r.id} (${id}) is applied but its effect happened ${n} times`)
    if ((r.status === 'failed' || r.status === 'pending') && n !== 0) out.push(`mutation ${r.id} (${id}) is ${r.status} but its effect happened ${n} times`)
  }
  return out
}

/** Throws an Error listing every violation (for tests that prefer a throw). */
export async function assertInvariants(db: LedgerflowDb, options?: InvariantOptions): Promise<void> {
  const violations = await checkInvariants(db, options)
  if (violations.length > 0) {
    throw new Error(`${violations.length} invariant violation(s):\n${violations.map((x) => `  [${x.invariant}] ${x.message}`).join('\n')}`)
  }
}
