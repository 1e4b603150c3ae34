/**
 * SPEC §13.3 says an `applied` ledger row never changes. A single look at the database cannot see a change, so this
 * takes a snapshot of the applied rows and compares a later one against it.
 */
import type { LedgerflowDb } from '@ledgerflow/db'

/** The applied ledger rows at one moment, by mutation id. */
export interface LedgerSnapshot {
  readonly applied: ReadonlyMap<string, AppliedRow>
}

/** The columns of an applied row that must never change. */
export interface AppliedRow {
  id: string
  handler_run_id: string
  tool: string
  params: string
  idempotency_key: string
  result: string | null
  resolved_by: string | null
}

/**
 * Reads every `applied` ledger row.
 *
 * ### Examples
 * ```ts
 * const before = await ledgerSnapshot(env.db)
 * await env.engine.recover({ force: true })
 * expect(checkLedgerUnchanged(before, await ledgerSnapshot(env.db))).toEqual([])
 * ```
 */
export async function ledgerSnapshot(db: LedgerflowDb): Promise<LedgerSnapshot> {
  const rows = await db.kysely
    .selectFrom('mutations')
    .select(['id', 'handler_run_id', 'tool_namespace', 'tool_method', 'params', 'idempotency_key', 'result', 'resolved_by'])
    .where('status', '=', 'applied')
    .execute()
  const applied = new Map<string, AppliedRow>()
  for (const r of rows) {
    applied.set(r.id, {
      id: r.id,
      handler_run_id: r.handler_run_id,
      tool: `${r.tool_namespace}.${r.tool_method}`,
      params: r.params,
      idempotency_key: r.idempotency_key,
      result: r.result,
      resolved_by: r.resolved_by,
    })
  }
  return { applied }
}

/**
 * Compares two snapshots: every row applied in `before` is still applied in `after`, unchanged. Returns messages
 * (empty when nothing changed). Pure.
 */
export function checkLedgerUnchanged(before: LedgerSnapshot, after: LedgerSnapshot): string[] {
  const out: string[] = []
  for (const [id, row] of before.applied) {
    const now = after.applied.get(id)
    if (!now) {
      out.push(`mutation ${id} was applied and is no longer applied (or was deleted)`)
      continue
    }
    for (const column of Object.keys(row) as Array<keyof AppliedRow>) {
      if (row[column] !== now[column]) out.push(`applied mutation ${id} changed its ${column}: ${String(row[column])} -> ${String(now[column])}`)
    }
  }
  return out
}
