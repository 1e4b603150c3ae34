import { type Executor, affected } from '../executor.js'
import type { BudgetKind, ErrorType, NewSession, Session, SessionStatus } from '../schema.js'

/** How a session ends. */
export interface SessionClose {
  status: Exclude<SessionStatus, 'running'>
  error?: string | null
  errorType?: ErrorType | null
  budgetExhausted?: BudgetKind | null
  now: number
}

/** A lease takeover: applies only if the lease is still exactly as observed. */
export interface LeaseTakeover {
  expectedOwner: string | null
  expectedLeaseExpiresAt: number | null
  owner: string
  leaseExpiresAt: number
}

/** Reads and guarded writes of sessions (`script_runs`). */
export interface SessionStore {
  /**
   * Inserts an open session unless the workflow already has one (the partial unique index decides, atomically).
   * Returns whether the session was opened. Safe inside a caller's transaction on both backends.
   */
  open(row: Omit<NewSession, 'status' | 'end_timestamp'>): Promise<boolean>
  /** {@link SessionStore.open}, returning the session's row as written (`undefined` when one is already open). */
  openRow(row: Omit<NewSession, 'status' | 'end_timestamp'>): Promise<Session | undefined>
  get(id: string): Promise<Session | undefined>
  getOpen(workflowId: string): Promise<Session | undefined>
  listByWorkflow(workflowId: string, options?: { limit?: number }): Promise<Session[]>
  /** Open sessions, oldest first. */
  listOpen(): Promise<Session[]>
  /** Open sessions whose lease has expired (or that have no owner) at `now`. */
  listOrphaned(now: number): Promise<Session[]>
  /**
   * Closes a running session: status, error, end time, and cost and run count as SQL aggregates over its runs.
   * Returns false when it was not running.
   */
  close(id: string, close: SessionClose): Promise<boolean>
  /**
   * Sets the start time and lease expiry of an open session (for the transaction that just opened it: its insert may
   * have waited for the previous session's close to commit, after the start time was read).
   */
  stampStart(id: string, startTimestamp: number, leaseExpiresAt: number): Promise<boolean>
  /** Extends the lease if `owner` still holds it. */
  renewLease(id: string, owner: string, leaseExpiresAt: number): Promise<boolean>
  takeOverLease(id: string, takeover: LeaseTakeover): Promise<boolean>
  /** Sum of the session's run costs in microdollars (0 without runs). */
  cost(id: string): Promise<number>
}

/** Creates the {@link SessionStore} over `db`. */
export function createSessionStore(db: Executor): SessionStore {
  const openRow = (row: Omit<NewSession, 'status' | 'end_timestamp'>) =>
    db
      .insertInto('script_runs')
      .values({ ...row, status: 'running', end_timestamp: null })
      // Only the "one open session per workflow" index may turn the insert into a no-op; an id clash still throws.
      .onConflict((oc) => oc.column('workflow_id').where('end_timestamp', 'is', null).doNothing())
      .returningAll()
      .executeTakeFirst()
  return {
    async open(row) {
      return (await openRow(row)) !== undefined
    },
    openRow,
    get(id) {
      return db.selectFrom('script_runs').selectAll().where('id', '=', id).executeTakeFirst()
    },
    getOpen(workflowId) {
      return db
        .selectFrom('script_runs')
        .selectAll()
        .where('workflow_id', '=', workflowId)
        .where('end_timestamp', 'is', null)
        .executeTakeFirst()
    },
    listByWorkflow(workflowId, options = {}) {
      return db
        .selectFrom('script_runs')
        .selectAll()
        .where('workflow_id', '=', workflowId)
        .orderBy('start_timestamp', 'desc')
        .orderBy('id', 'desc')
        .limit(options.limit ?? 1000)
        .execute()
    },
    listOpen() {
      return db
        .selectFrom('script_runs')
        .selectAll()
        .where('end_timestamp', 'is', null)
        .orderBy('start_timestamp')
        .orderBy('id')
        .execute()
    },
    listOrphaned(now) {
      return db
        .selectFrom('script_runs')
        .selectAll()
        .where('end_timestamp', 'is', null)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', now)]))
        .orderBy('start_timestamp')
        .orderBy('id')
        .execute()
    },
    async close(id, close) {
      const result = await db
        .updateTable('script_runs')
        .set((eb) => ({
          status: close.status,
          error: close.error ?? null,
          error_type: close.errorType ?? null,
          budget_exhausted: close.budgetExhausted ?? null,
          end_timestamp: close.now,
          owner: null,
          lease_expires_at: null,
          cost: eb
            .selectFrom('handler_runs')
            .select((s) => s.fn.coalesce(s.fn.sum<number>('cost'), s.lit(0)).as('c'))
            .where('script_run_id', '=', id),
          handler_run_count: eb
            .selectFrom('handler_runs')
            .select((s) => s.fn.countAll<number>().as('n'))
            .where('script_run_id', '=', id),
        }))
        .where('id', '=', id)
        .where('status', '=', 'running')
        .executeTakeFirst()
      return affected(result) === 1
    },
    async stampStart(id, startTimestamp, leaseExpiresAt) {
      const result = await db
        .updateTable('script_runs')
        .set({ start_timestamp: startTimestamp, lease_expires_at: leaseExpiresAt })
        .where('id', '=', id)
        .where('end_timestamp', 'is', null)
        .executeTakeFirst()
      return affected(result) === 1
    },
    async renewLease(id, owner, leaseExpiresAt) {
      const result = await db
        .updateTable('script_runs')
        .set({ lease_expires_at: leaseExpiresAt })
        .where('id', '=', id)
        .where('owner', '=', owner)
        .where('end_timestamp', 'is', null)
        .executeTakeFirst()
      return affected(result) === 1
    },
    async takeOverLease(id, t) {
      const result = await db
        .updateTable('script_runs')
        .set({ owner: t.owner, lease_expires_at: t.leaseExpiresAt })
        .where('id', '=', id)
        .where('end_timestamp', 'is', null)
        .where((eb) => (t.expectedOwner === null ? eb('owner', 'is', null) : eb('owner', '=', t.expectedOwner)))
        .where((eb) =>
          t.expectedLeaseExpiresAt === null
            ? eb('lease_expires_at', 'is', null)
            : eb('lease_expires_at', '=', t.expectedLeaseExpiresAt),
        )
        .executeTakeFirst()
      return affected(result) === 1
    },
    async cost(id) {
      const row = await db
        .selectFrom('handler_runs')
        .select((s) => s.fn.coalesce(s.fn.sum<number>('cost'), s.lit(0)).as('c'))
        .where('script_run_id', '=', id)
        .executeTakeFirst()
      return Number(row?.c ?? 0)
    },
  }
}
