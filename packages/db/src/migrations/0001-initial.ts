/**
 * 0001: the whole schema of SPEC §3. Forward-only: never edit this file once it has landed; add a new migration.
 */
import { type Kysely, type Migration, sql } from 'kysely'
import { isSqlite } from '../dialects/detect.js'

const WORKFLOW_STATUS = ['draft', 'active', 'paused', 'error', 'archived']
const ERROR_TYPE = ['auth', 'permission', 'network', 'logic', 'internal', 'indeterminate']
const TRIGGER = ['schedule', 'manual', 'event', 'retry']
const SESSION_STATUS = ['running', 'completed', 'failed', 'suspended']
const BUDGET = ['iterations', 'cost', 'time']
const PRODUCER_PHASES = ['pending', 'executing', 'committed']
const CONSUMER_PHASES = ['pending', 'preparing', 'prepared', 'mutating', 'mutated', 'emitting', 'committed']
const RUN_STATUS = ['active', 'waiting', 'paused', 'failed', 'committed']
const MUTATION_STATUS = ['pending', 'in_flight', 'applied', 'failed', 'indeterminate', 'skipped']
const EVENT_STATUS = ['pending', 'reserved', 'consumed', 'skipped', 'dead']
const LOG_LEVEL = ['log', 'info', 'warn', 'error']

/** `column IN ('a', 'b')` as a CHECK expression; values are constants of this file, never input. */
function oneOf(column: string, values: readonly string[]) {
  return sql`${sql.ref(column)} in (${sql.join(values.map((v) => sql.lit(v)))})`
}

function nullOrOneOf(column: string, values: readonly string[]) {
  return sql`${sql.ref(column)} is null or ${oneOf(column, values)}`
}

async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = isSqlite(db)

  // workflows.active_script_id -> scripts is circular with scripts.workflow_id -> workflows. SQLite accepts a
  // reference to a table created later; PostgreSQL gets the constraint with ALTER TABLE once scripts exists.
  let workflows = db.schema
    .createTable('workflows')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(oneOf('status', WORKFLOW_STATUS)))
    .addColumn('active_script_id', 'text')
    .addColumn('handler_config', 'text')
    .addColumn('error', 'text')
    .addColumn('error_type', 'text', (c) => c.check(nullOrOneOf('error_type', ERROR_TYPE)))
    .addColumn('consumer_sleep_until', 'bigint')
    .addColumn('event_sequence', 'bigint', (c) => c.notNull().defaultTo(0).check(sql`event_sequence >= 0`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addCheckConstraint('workflows_title_not_empty', sql`length(title) > 0`)
  if (sqlite) {
    workflows = workflows.addForeignKeyConstraint(
      'workflows_active_script_fk',
      ['active_script_id', 'id'],
      'scripts',
      ['id', 'workflow_id'],
    )
  }
  await workflows.execute()

  await db.schema
    .createTable('scripts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('handler_config', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('scripts_workflow_version_unique', ['workflow_id', 'version'])
    .addUniqueConstraint('scripts_id_workflow_unique', ['id', 'workflow_id'])
    .execute()

  if (!sqlite) {
    await db.schema
      .alterTable('workflows')
      .addForeignKeyConstraint('workflows_active_script_fk', ['active_script_id', 'id'], 'scripts', [
        'id',
        'workflow_id',
      ])
      .execute()
  }

  await db.schema
    .createTable('script_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('script_id', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull().check(oneOf('trigger', TRIGGER)))
    .addColumn('status', 'text', (c) => c.notNull().check(oneOf('status', SESSION_STATUS)))
    .addColumn('error', 'text')
    .addColumn('error_type', 'text', (c) => c.check(nullOrOneOf('error_type', ERROR_TYPE)))
    .addColumn('budget_exhausted', 'text', (c) => c.check(nullOrOneOf('budget_exhausted', BUDGET)))
    .addColumn('handler_run_count', 'integer', (c) => c.notNull().defaultTo(0).check(sql`handler_run_count >= 0`))
    .addColumn('cost', 'bigint', (c) => c.notNull().defaultTo(0).check(sql`cost >= 0`))
    .addColumn('producers', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('max_iterations', 'integer', (c) => c.notNull().check(sql`max_iterations >= 0`))
    .addColumn('max_cost_microdollars', 'bigint', (c) => c.check(sql`max_cost_microdollars >= 0`))
    .addColumn('max_duration_ms', 'bigint', (c) => c.check(sql`max_duration_ms >= 0`))
    .addColumn('start_timestamp', 'bigint', (c) => c.notNull())
    .addColumn('end_timestamp', 'bigint')
    .addColumn('owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addForeignKeyConstraint('script_runs_script_fk', ['script_id', 'workflow_id'], 'scripts', ['id', 'workflow_id'])
    .addUniqueConstraint('script_runs_id_workflow_unique', ['id', 'workflow_id'])
    // A session is open exactly while it is running.
    .addCheckConstraint('script_runs_open_iff_running', sql`(status = 'running') = (end_timestamp is null)`)
    .addCheckConstraint('script_runs_end_after_start', sql`end_timestamp is null or end_timestamp >= start_timestamp`)
    .execute()

  // SPEC §7: at most one open session per workflow, enforced by the database.
  await db.schema
    .createIndex('script_runs_one_open_per_workflow')
    .unique()
    .on('script_runs')
    .column('workflow_id')
    .where(sql.ref('end_timestamp'), 'is', null)
    .execute()
  await db.schema
    .createIndex('script_runs_workflow_start')
    .on('script_runs')
    .columns(['workflow_id', 'start_timestamp'])
    .execute()

  await db.schema
    .createTable('handler_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('script_run_id', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('script_id', 'text', (c) => c.notNull())
    .addColumn('handler_type', 'text', (c) => c.notNull().check(oneOf('handler_type', ['producer', 'consumer'])))
    .addColumn('handler_name', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull().check(sql`ordinal >= 1`))
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(oneOf('status', RUN_STATUS)))
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1).check(sql`attempt >= 1`))
    .addColumn('retry_at', 'bigint')
    .addColumn('retry_of', 'text', (c) => c.references('handler_runs.id'))
    .addColumn('prepare_result', 'text')
    .addColumn('input_state', 'text')
    .addColumn('output_state', 'text')
    .addColumn('error', 'text')
    .addColumn('error_type', 'text', (c) => c.check(nullOrOneOf('error_type', ERROR_TYPE)))
    .addColumn('cost', 'bigint', (c) => c.notNull().defaultTo(0).check(sql`cost >= 0`))
    .addColumn('start_timestamp', 'bigint', (c) => c.notNull())
    .addColumn('end_timestamp', 'bigint')
    .addForeignKeyConstraint('handler_runs_session_fk', ['script_run_id', 'workflow_id'], 'script_runs', [
      'id',
      'workflow_id',
    ])
    .addForeignKeyConstraint('handler_runs_script_fk', ['script_id', 'workflow_id'], 'scripts', ['id', 'workflow_id'])
    .addUniqueConstraint('handler_runs_session_ordinal_unique', ['script_run_id', 'ordinal'])
    .addUniqueConstraint('handler_runs_id_workflow_unique', ['id', 'workflow_id'])
    .addCheckConstraint(
      'handler_runs_phase_fits_type',
      sql`(handler_type = 'producer' and ${oneOf('phase', PRODUCER_PHASES)}) or (handler_type = 'consumer' and ${oneOf('phase', CONSUMER_PHASES)})`,
    )
    .addCheckConstraint('handler_runs_committed_iff_phase', sql`(status = 'committed') = (phase = 'committed')`)
    .addCheckConstraint('handler_runs_waiting_has_retry_at', sql`status <> 'waiting' or retry_at is not null`)
    .addCheckConstraint(
      'handler_runs_ended_iff_finished',
      sql`(end_timestamp is null) = (status in ('active', 'waiting', 'paused'))`,
    )
    .addCheckConstraint('handler_runs_not_own_retry', sql`retry_of is null or retry_of <> id`)
    .execute()

  // SPEC §13.1: at most one unfinished (active, waiting or paused) run per workflow.
  await db.schema
    .createIndex('handler_runs_one_unfinished_per_workflow')
    .unique()
    .on('handler_runs')
    .column('workflow_id')
    .where(sql<boolean>`status in ('active', 'waiting', 'paused')`)
    .execute()
  await db.schema.createIndex('handler_runs_workflow_status').on('handler_runs').columns(['workflow_id', 'status']).execute()
  await db.schema.createIndex('handler_runs_retry_of').on('handler_runs').column('retry_of').execute()

  await db.schema
    .createTable('run_logs')
    .addColumn('handler_run_id', 'text', (c) => c.notNull().references('handler_runs.id').onDelete('cascade'))
    .addColumn('sequence', 'integer', (c) => c.notNull().check(sql`sequence >= 1`))
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('level', 'text', (c) => c.notNull().check(oneOf('level', LOG_LEVEL)))
    .addColumn('message', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_logs_pk', ['handler_run_id', 'sequence'])
    .execute()

  await db.schema
    .createTable('mutations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('handler_run_id', 'text', (c) => c.notNull().unique())
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('tool_namespace', 'text', (c) => c.notNull())
    .addColumn('tool_method', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull().check(oneOf('status', MUTATION_STATUS)))
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    .addColumn('error_type', 'text', (c) => c.check(nullOrOneOf('error_type', ERROR_TYPE)))
    .addColumn('ui_title', 'text')
    .addColumn('reconcile_attempts', 'integer', (c) => c.notNull().defaultTo(0).check(sql`reconcile_attempts >= 0`))
    .addColumn('next_reconcile_at', 'bigint')
    .addColumn('resolved_by', 'text')
    .addColumn('resolved_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint('mutations_run_fk', ['handler_run_id', 'workflow_id'], 'handler_runs', ['id', 'workflow_id'])
    .addCheckConstraint('mutations_resolution_pair', sql`(resolved_by is null) = (resolved_at is null)`)
    .execute()
  await db.schema.createIndex('mutations_workflow_status').on('mutations').columns(['workflow_id', 'status']).execute()
  // SPEC §13.3: an applied ledger row never changes, whatever code runs against the database.
  if (sqlite) {
    await sql`create trigger mutations_applied_is_final before update on mutations when old.status = 'applied'
      begin select raise(abort, 'ledgerflow: an applied mutation never changes'); end`.execute(db)
  } else {
    await sql`create function ledgerflow_mutation_applied_is_final() returns trigger language plpgsql as $$
      begin
        if old.status = 'applied' then raise exception 'ledgerflow: an applied mutation never changes'; end if;
        return new;
      end $$`.execute(db)
    await sql`create trigger mutations_applied_is_final before update on mutations
      for each row execute function ledgerflow_mutation_applied_is_final()`.execute(db)
  }

  await db.schema
    .createTable('handler_state')
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('handler_name', 'text', (c) => c.notNull())
    .addColumn('state', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by_run_id', 'text')
    .addPrimaryKeyConstraint('handler_state_pk', ['workflow_id', 'handler_name'])
    .addForeignKeyConstraint('handler_state_run_fk', ['updated_by_run_id', 'workflow_id'], 'handler_runs', ['id', 'workflow_id'])
    .execute()

  await db.schema
    .createTable('topics')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('topics_workflow_name_unique', ['workflow_id', 'name'])
    .addUniqueConstraint('topics_id_workflow_unique', ['id', 'workflow_id'])
    .addCheckConstraint('topics_name_not_empty', sql`length(name) > 0`)
    .execute()

  await db.schema
    .createTable('events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('topic_id', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(oneOf('status', EVENT_STATUS)))
    .addColumn('reserved_by_run_id', 'text')
    .addColumn('created_by_run_id', 'text')
    .addColumn('attempt_number', 'integer', (c) => c.notNull().defaultTo(1).check(sql`attempt_number >= 1`))
    .addColumn('sequence', 'bigint', (c) => c.notNull().check(sql`sequence >= 1`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    // The topic must belong to the same workflow as the event.
    .addForeignKeyConstraint('events_topic_fk', ['topic_id', 'workflow_id'], 'topics', ['id', 'workflow_id'])
    // A run can only hold or publish events of its own workflow.
    .addForeignKeyConstraint('events_reserved_by_fk', ['reserved_by_run_id', 'workflow_id'], 'handler_runs', ['id', 'workflow_id'])
    .addForeignKeyConstraint('events_created_by_fk', ['created_by_run_id', 'workflow_id'], 'handler_runs', ['id', 'workflow_id'])
    .addUniqueConstraint('events_topic_message_unique', ['topic_id', 'message_id'])
    .addUniqueConstraint('events_workflow_sequence_unique', ['workflow_id', 'sequence'])
    .addCheckConstraint('events_message_id_not_empty', sql`length(message_id) > 0`)
    .addCheckConstraint('events_reserved_has_run', sql`status <> 'reserved' or reserved_by_run_id is not null`)
    .addCheckConstraint('events_pending_has_no_run', sql`status <> 'pending' or reserved_by_run_id is null`)
    .execute()
  // "Oldest pending of a topic": a partial index stays small however many consumed events pile up.
  await db.schema
    .createIndex('events_pending_by_topic')
    .on('events')
    .columns(['topic_id', 'sequence'])
    .where(sql.ref('status'), '=', 'pending')
    .execute()
  await db.schema.createIndex('events_reserved_by_run').on('events').column('reserved_by_run_id').execute()
  await db.schema.createIndex('events_workflow_status').on('events').columns(['workflow_id', 'status']).execute()

  await db.schema
    .createTable('producer_schedules')
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('producer_name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', ['interval', 'cron'])))
    .addColumn('expression', 'text', (c) => c.notNull())
    .addColumn('timezone', 'text')
    .addColumn('next_run_at', 'bigint', (c) => c.notNull())
    .addColumn('last_run_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('producer_schedules_pk', ['workflow_id', 'producer_name'])
    .execute()
  await db.schema.createIndex('producer_schedules_next_run').on('producer_schedules').column('next_run_at').execute()

  await db.schema
    .createTable('consumer_wakeups')
    .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
    .addColumn('consumer_name', 'text', (c) => c.notNull())
    .addColumn('idle_after_sequence', 'bigint')
    .addColumn('wake_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consumer_wakeups_pk', ['workflow_id', 'consumer_name'])
    .execute()
}

export const migration0001: Migration = { up }
