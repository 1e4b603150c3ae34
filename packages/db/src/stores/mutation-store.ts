import { type Executor, affected } from '../executor.js'
import { prepareQuery } from '../prepared-query.js'
import type { Mutation, MutationStatus, NewMutation } from '../schema.js'

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

/** The mutation ledger. An `applied` row never changes: no transition starts from `applied`. */
export interface MutationStore {
  insert(row: NewMutation): Promise<void>
  get(id: string): Promise<Mutation | undefined>
  getByRun(runId: string): Promise<Mutation | undefined>
  listByWorkflow(workflowId: string, options?: { status?: MutationStatus; limit?: number }): Promise<Mutation[]>
  listByStatus(status: MutationStatus): Promise<Mutation[]>
  /** Compare-and-set on the status (`from` must not contain `applied`); returns whether it applied. */
  transition(id: string, from: readonly Exclude<MutationStatus, 'applied'>[], change: MutationChange): Promise<boolean>
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
      const result = await db
        .updateTable('mutations')
        .set({
          status: change.status,
          updated_at: change.now,
          ...(change.result !== undefined ? { result: change.result } : {}),
          ...(change.error !== undefined ? { error: change.error } : {}),
          ...(change.errorType !== undefined ? { error_type: change.errorType } : {}),
          ...(change.reconcileAttempts !== undefined ? { reconcile_attempts: change.reconcileAttempts } : {}),
          ...(change.nextReconcileAt !== undefined ? { next_reconcile_at: change.nextReconcileAt } : {}),
          ...(change.resolvedBy !== undefined ? { resolved_by: change.resolvedBy } : {}),
          ...(change.resolvedAt !== undefined ? { resolved_at: change.resolvedAt } : {}),
        })
        .where('id', '=', id)
        .where('status', 'in', allowed)
        .executeTakeFirst()
      return affected(result) === 1
    },
  }
}
