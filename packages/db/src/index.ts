/**
 * @module @ledgerflow/db
 *
 * The ground every other ledgerflow package stands on: the schema of SPEC §3 as kysely types, forward-only
 * migrations that run under a lock and refuse a newer schema, the SQLite (default) and PostgreSQL dialects, and
 * stores: row-level reads and guarded transitions (compare-and-set, returning whether they applied), each usable
 * inside a caller's transaction. No engine policy lives here.
 *
 * ### Examples
 * ```ts
 * import { openDatabase } from '@ledgerflow/db'
 *
 * const db = await openDatabase({ sqlite: 'ledgerflow.db' })
 * const applied = await db.transaction(async (tx) => {
 *   const ok = await tx.runs.transition(runId, { phase: 'preparing', status: 'active' }, { phase: 'prepared' })
 *   if (ok) await tx.events.reserve({ workflowId, runId, reservations: [{ topic: 'email.received', ids: ['m1'] }], now: Date.now() })
 *   return ok
 * })
 * ```
 */
export {
  openDatabase,
  type LedgerflowDb,
  type LedgerflowTx,
  type OpenDatabaseOptions,
  type SqliteDatabaseOptions,
  type PostgresDatabaseOptions,
  type CommonDatabaseOptions,
} from './open-database.js'
export { DEFAULT_TRANSACTION_RETRY, type TransactionRetry } from './run-transaction.js'
export { migrateToLatest, appliedMigrations, MIGRATION_TABLE, type MigrateOutcome } from './migrate.js'
export { migrations, LATEST_MIGRATION } from './migrations/index.js'
export { createStores, type Stores } from './stores/index.js'
export type * from './stores/index.js'
export type { WorkflowStatusChange, SetActiveScriptRequest } from './stores/workflow-store.js'
export type { PeekedEvents, PickView, PickWakeup, PendingBounds } from './stores/pick-view.js'
export type { SessionClose, LeaseTakeover } from './stores/session-store.js'
export type { RunGuard, RunPrepareEffects, RunPrepareResult, RunCommitEffects, SeenWorkflow } from './stores/run-store.js'
export type { CommitRequest, PrepareRequest } from './stores/run-checkpoint-queries.js'
export type { LogLine } from './stores/run-log-store.js'
export type { MutationChange, RunMove, TransitionMovingRequest } from './stores/mutation-store.js'
export { changedMutation, insertedMutation } from './stores/mutation-store.js'
export type { PublishInput, PublishOutcome, Reservation, ReserveRequest, PendingSummary } from './stores/event-store.js'
export type { ScheduleDefinition } from './stores/producer-schedule-store.js'
export * from './schema.js'
export * from './errors.js'
export { readJsonColumn, writeJsonColumn, type ColumnRef } from './json-column.js'
export { isUniqueViolation, isConstraintViolation, isTransientTransactionError } from './dialects/errors.js'
export { isBusyError } from './dialects/sqlite-driver.js'
export { dialectOf, type DialectName } from './dialects/detect.js'
export type { Executor } from './executor.js'
