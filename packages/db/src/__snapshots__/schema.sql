-- table consumer_wakeups
CREATE TABLE "consumer_wakeups" ("workflow_id" text not null references "workflows" ("id") on delete cascade, "consumer_name" text not null, "idle_after_sequence" bigint, "wake_at" bigint, "updated_at" bigint not null, constraint "consumer_wakeups_pk" primary key ("workflow_id", "consumer_name"));

-- table events
CREATE TABLE "events" ("id" text primary key, "topic_id" text not null, "workflow_id" text not null, "message_id" text not null, "title" text not null, "payload" text not null, "status" text not null check ("status" in ('pending', 'reserved', 'consumed', 'skipped', 'dead')), "reserved_by_run_id" text, "created_by_run_id" text, "attempt_number" integer default 1 not null check (attempt_number >= 1), "sequence" bigint not null check (sequence >= 1), "created_at" bigint not null, "updated_at" bigint not null, constraint "events_topic_fk" foreign key ("topic_id", "workflow_id") references "topics" ("id", "workflow_id"), constraint "events_reserved_by_fk" foreign key ("reserved_by_run_id", "workflow_id") references "handler_runs" ("id", "workflow_id"), constraint "events_created_by_fk" foreign key ("created_by_run_id", "workflow_id") references "handler_runs" ("id", "workflow_id"), constraint "events_topic_message_unique" unique ("topic_id", "message_id"), constraint "events_workflow_sequence_unique" unique ("workflow_id", "sequence"), constraint "events_message_id_not_empty" check (length(message_id) > 0), constraint "events_reserved_has_run" check (status <> 'reserved' or reserved_by_run_id is not null), constraint "events_pending_has_no_run" check (status <> 'pending' or reserved_by_run_id is null));

-- index events_pending_by_topic
CREATE INDEX "events_pending_by_topic" on "events" ("topic_id", "sequence") where "status" = 'pending';

-- index events_reserved_by_run
CREATE INDEX "events_reserved_by_run" on "events" ("reserved_by_run_id");

-- index events_workflow_status
CREATE INDEX "events_workflow_status" on "events" ("workflow_id", "status");

-- table handler_runs
CREATE TABLE "handler_runs" ("id" text primary key, "script_run_id" text not null, "workflow_id" text not null, "script_id" text not null, "handler_type" text not null check ("handler_type" in ('producer', 'consumer')), "handler_name" text not null, "ordinal" integer not null check (ordinal >= 1), "phase" text not null, "status" text not null check ("status" in ('active', 'waiting', 'paused', 'failed', 'committed')), "attempt" integer default 1 not null check (attempt >= 1), "retry_at" bigint, "retry_of" text references "handler_runs" ("id"), "prepare_result" text, "input_state" text, "output_state" text, "error" text, "error_type" text check ("error_type" is null or "error_type" in ('auth', 'permission', 'network', 'logic', 'internal', 'indeterminate')), "cost" bigint default 0 not null check (cost >= 0), "start_timestamp" bigint not null, "end_timestamp" bigint, constraint "handler_runs_session_fk" foreign key ("script_run_id", "workflow_id") references "script_runs" ("id", "workflow_id"), constraint "handler_runs_script_fk" foreign key ("script_id", "workflow_id") references "scripts" ("id", "workflow_id"), constraint "handler_runs_session_ordinal_unique" unique ("script_run_id", "ordinal"), constraint "handler_runs_id_workflow_unique" unique ("id", "workflow_id"), constraint "handler_runs_phase_fits_type" check ((handler_type = 'producer' and "phase" in ('pending', 'executing', 'committed')) or (handler_type = 'consumer' and "phase" in ('pending', 'preparing', 'prepared', 'mutating', 'mutated', 'emitting', 'committed'))), constraint "handler_runs_committed_iff_phase" check ((status = 'committed') = (phase = 'committed')), constraint "handler_runs_waiting_has_retry_at" check (status <> 'waiting' or retry_at is not null), constraint "handler_runs_ended_iff_finished" check ((end_timestamp is null) = (status in ('active', 'waiting', 'paused'))), constraint "handler_runs_not_own_retry" check (retry_of is null or retry_of <> id));

-- index handler_runs_one_unfinished_per_workflow
CREATE UNIQUE INDEX "handler_runs_one_unfinished_per_workflow" on "handler_runs" ("workflow_id") where status in ('active', 'waiting', 'paused');

-- index handler_runs_retry_of
CREATE INDEX "handler_runs_retry_of" on "handler_runs" ("retry_of");

-- index handler_runs_workflow_status
CREATE INDEX "handler_runs_workflow_status" on "handler_runs" ("workflow_id", "status");

-- table handler_state
CREATE TABLE "handler_state" ("workflow_id" text not null references "workflows" ("id") on delete cascade, "handler_name" text not null, "state" text, "updated_at" bigint not null, "updated_by_run_id" text, constraint "handler_state_pk" primary key ("workflow_id", "handler_name"), constraint "handler_state_run_fk" foreign key ("updated_by_run_id", "workflow_id") references "handler_runs" ("id", "workflow_id"));

-- table ledgerflow_migration
CREATE TABLE "ledgerflow_migration" ("name" varchar(255) not null primary key, "timestamp" varchar(255) not null);

-- table ledgerflow_migration_lock
CREATE TABLE "ledgerflow_migration_lock" ("id" varchar(255) not null primary key, "is_locked" integer default 0 not null);

-- table mutations
CREATE TABLE "mutations" ("id" text primary key, "handler_run_id" text not null unique, "workflow_id" text not null, "tool_namespace" text not null, "tool_method" text not null, "params" text not null, "idempotency_key" text not null unique, "status" text not null check ("status" in ('pending', 'in_flight', 'applied', 'failed', 'indeterminate', 'skipped')), "result" text, "error" text, "error_type" text check ("error_type" is null or "error_type" in ('auth', 'permission', 'network', 'logic', 'internal', 'indeterminate')), "ui_title" text, "reconcile_attempts" integer default 0 not null check (reconcile_attempts >= 0), "next_reconcile_at" bigint, "resolved_by" text, "resolved_at" bigint, "created_at" bigint not null, "updated_at" bigint not null, constraint "mutations_run_fk" foreign key ("handler_run_id", "workflow_id") references "handler_runs" ("id", "workflow_id"), constraint "mutations_resolution_pair" check ((resolved_by is null) = (resolved_at is null)));

-- trigger mutations_applied_is_final
CREATE TRIGGER mutations_applied_is_final before update on mutations when old.status = 'applied'
      begin select raise(abort, 'ledgerflow: an applied mutation never changes'); end;

-- index mutations_workflow_status
CREATE INDEX "mutations_workflow_status" on "mutations" ("workflow_id", "status");

-- table producer_schedules
CREATE TABLE "producer_schedules" ("workflow_id" text not null references "workflows" ("id") on delete cascade, "producer_name" text not null, "kind" text not null check ("kind" in ('interval', 'cron')), "expression" text not null, "timezone" text, "next_run_at" bigint not null, "last_run_at" bigint, "updated_at" bigint not null, constraint "producer_schedules_pk" primary key ("workflow_id", "producer_name"));

-- index producer_schedules_next_run
CREATE INDEX "producer_schedules_next_run" on "producer_schedules" ("next_run_at");

-- table run_logs
CREATE TABLE "run_logs" ("handler_run_id" text not null references "handler_runs" ("id") on delete cascade, "sequence" integer not null check (sequence >= 1), "timestamp" bigint not null, "phase" text not null, "level" text not null check ("level" in ('log', 'info', 'warn', 'error')), "message" text not null, constraint "run_logs_pk" primary key ("handler_run_id", "sequence"));

-- table script_runs
CREATE TABLE "script_runs" ("id" text primary key, "workflow_id" text not null references "workflows" ("id") on delete cascade, "script_id" text not null, "trigger" text not null check ("trigger" in ('schedule', 'manual', 'event', 'retry')), "status" text not null check ("status" in ('running', 'completed', 'failed', 'suspended')), "error" text, "error_type" text check ("error_type" is null or "error_type" in ('auth', 'permission', 'network', 'logic', 'internal', 'indeterminate')), "budget_exhausted" text check ("budget_exhausted" is null or "budget_exhausted" in ('iterations', 'cost', 'time')), "handler_run_count" integer default 0 not null check (handler_run_count >= 0), "cost" bigint default 0 not null check (cost >= 0), "producers" text default '[]' not null, "max_iterations" integer not null check (max_iterations >= 0), "max_cost_microdollars" bigint check (max_cost_microdollars >= 0), "max_duration_ms" bigint check (max_duration_ms >= 0), "start_timestamp" bigint not null, "end_timestamp" bigint, "owner" text, "lease_expires_at" bigint, constraint "script_runs_script_fk" foreign key ("script_id", "workflow_id") references "scripts" ("id", "workflow_id"), constraint "script_runs_id_workflow_unique" unique ("id", "workflow_id"), constraint "script_runs_open_iff_running" check ((status = 'running') = (end_timestamp is null)), constraint "script_runs_end_after_start" check (end_timestamp is null or end_timestamp >= start_timestamp));

-- index script_runs_one_open_per_workflow
CREATE UNIQUE INDEX "script_runs_one_open_per_workflow" on "script_runs" ("workflow_id") where "end_timestamp" is null;

-- index script_runs_workflow_start
CREATE INDEX "script_runs_workflow_start" on "script_runs" ("workflow_id", "start_timestamp");

-- table scripts
CREATE TABLE "scripts" ("id" text primary key, "workflow_id" text not null references "workflows" ("id") on delete cascade, "version" integer not null check (version >= 1), "code" text not null, "handler_config" text not null, "created_at" bigint not null, constraint "scripts_workflow_version_unique" unique ("workflow_id", "version"), constraint "scripts_id_workflow_unique" unique ("id", "workflow_id"));

-- table topics
CREATE TABLE "topics" ("id" text primary key, "workflow_id" text not null references "workflows" ("id") on delete cascade, "name" text not null, "created_at" bigint not null, constraint "topics_workflow_name_unique" unique ("workflow_id", "name"), constraint "topics_id_workflow_unique" unique ("id", "workflow_id"), constraint "topics_name_not_empty" check (length(name) > 0));

-- table workflows
CREATE TABLE "workflows" ("id" text primary key, "title" text not null, "status" text not null check ("status" in ('draft', 'active', 'paused', 'error', 'archived')), "active_script_id" text, "handler_config" text, "error" text, "error_type" text check ("error_type" is null or "error_type" in ('auth', 'permission', 'network', 'logic', 'internal', 'indeterminate')), "consumer_sleep_until" bigint, "event_sequence" bigint default 0 not null check (event_sequence >= 0), "created_at" bigint not null, "updated_at" bigint not null, constraint "workflows_title_not_empty" check (length(title) > 0), constraint "workflows_active_script_fk" foreign key ("active_script_id", "id") references "scripts" ("id", "workflow_id"));
