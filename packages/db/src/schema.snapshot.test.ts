/**
 * The migrated schema: a snapshot of SQLite's DDL (so every schema change shows in review) and the tables and
 * columns of SPEC §3 by name, on both backends (table and column names are part of the contract).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LedgerflowDb } from './index.js'
import { defineStoreSuite, openSqliteTestDb, type SqliteTestDb } from './test-helpers/backends.js'

/** SPEC §3, table by table, column by column. */
const SPEC_COLUMNS: Record<string, readonly string[]> = {
  workflows: ['id', 'title', 'status', 'active_script_id', 'handler_config', 'error', 'error_type', 'consumer_sleep_until', 'created_at', 'updated_at'],
  scripts: ['id', 'workflow_id', 'version', 'code', 'handler_config', 'created_at'],
  script_runs: [
    'id', 'workflow_id', 'script_id', 'trigger', 'status', 'error', 'error_type', 'budget_exhausted', 'handler_run_count',
    'cost', 'start_timestamp', 'end_timestamp', 'owner', 'lease_expires_at',
  ],
  handler_runs: [
    'id', 'script_run_id', 'workflow_id', 'script_id', 'handler_type', 'handler_name', 'phase', 'status', 'attempt',
    'retry_at', 'retry_of', 'prepare_result', 'input_state', 'output_state', 'error', 'error_type', 'cost',
    'start_timestamp', 'end_timestamp',
  ],
  run_logs: ['handler_run_id', 'sequence', 'timestamp', 'phase', 'level', 'message'],
  mutations: [
    'id', 'handler_run_id', 'workflow_id', 'tool_namespace', 'tool_method', 'params', 'idempotency_key', 'status',
    'result', 'error', 'ui_title', 'reconcile_attempts', 'next_reconcile_at', 'resolved_by', 'resolved_at', 'created_at',
    'updated_at',
  ],
  handler_state: ['workflow_id', 'handler_name', 'state', 'updated_at', 'updated_by_run_id'],
  topics: ['id', 'workflow_id', 'name', 'created_at'],
  events: [
    'id', 'topic_id', 'workflow_id', 'message_id', 'title', 'payload', 'status', 'reserved_by_run_id', 'created_by_run_id',
    'attempt_number', 'sequence', 'created_at', 'updated_at',
  ],
  producer_schedules: ['workflow_id', 'producer_name', 'kind', 'expression', 'next_run_at', 'last_run_at'],
}

/** Columns and tables beyond SPEC §3. Adding one means updating this list, on purpose. */
const EXTRA_COLUMNS: Record<string, readonly string[]> = {
  workflows: ['event_sequence'],
  script_runs: ['producers', 'max_iterations', 'max_cost_microdollars', 'max_duration_ms'],
  handler_runs: ['ordinal'],
  mutations: ['error_type'],
  producer_schedules: ['timezone', 'updated_at'],
  consumer_wakeups: ['workflow_id', 'consumer_name', 'idle_after_sequence', 'wake_at', 'updated_at'],
}

async function columnsByTable(db: LedgerflowDb): Promise<Record<string, string[]>> {
  const tables = await db.kysely.introspection.getTables()
  const schema = db.dialect === 'postgres' ? (await db.kysely.selectNoFrom((eb) => eb.fn<string>('current_schema').as('s')).executeTakeFirstOrThrow()).s : undefined
  return Object.fromEntries(
    tables
      .filter((t) => (schema === undefined || t.schema === schema) && !t.name.startsWith('ledgerflow_migration'))
      .map((t) => [t.name, t.columns.map((c) => c.name).sort()]),
  )
}

defineStoreSuite('schema: tables and columns', (env) => {
  it('has every table and column of SPEC §3 by name, plus exactly the listed extras', async () => {
    const actual = await columnsByTable(env().db)
    const expected: Record<string, string[]> = {}
    for (const source of [SPEC_COLUMNS, EXTRA_COLUMNS]) {
      for (const [table, columns] of Object.entries(source)) expected[table] = [...(expected[table] ?? []), ...columns].sort()
    }
    for (const [table, columns] of Object.entries(SPEC_COLUMNS)) {
      expect(actual[table], `table ${table}`).toEqual(expect.arrayContaining([...columns]))
    }
    expect(actual).toEqual(expected)
  })
})

describe('schema snapshot (sqlite)', () => {
  let handle: SqliteTestDb | undefined
  afterEach(async () => {
    await handle?.dispose()
    handle = undefined
  })

  it('matches the reviewed DDL of every table, index and constraint', async () => {
    handle = await openSqliteTestDb()
    const rows = handle.db.native!
      .prepare(`select type, name, sql from sqlite_master where sql is not null and name not like 'sqlite_%' order by name`)
      .all() as Array<{ type: string; name: string; sql: string }>
    const dump = rows.map((r) => `-- ${r.type} ${r.name}\n${r.sql};\n`).join('\n')
    await expect(dump).toMatchFileSnapshot('__snapshots__/schema.sql')
  })
})
