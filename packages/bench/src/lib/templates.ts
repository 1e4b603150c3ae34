/**
 * Template databases generated with raw SQL (recursive CTEs), once per bench invocation; every run copies the
 * template to a fresh file. Templates are closed cleanly (WAL checkpointed into the main file).
 */
import Database from 'better-sqlite3'
import { round } from './stats.js'
import { openEnv, pipelineScript, consumerOnlyScript } from './workload.js'

/** Ids a template was built with. */
export interface TemplateInfo {
  file: string
  workflowId: string
  generateMs: number
}

/** Reopens a template for bulk writes: no journal, no fsync, a large cache (nothing here needs durability). */
function reopen(file: string): Database.Database {
  const db = new Database(file)
  db.pragma('journal_mode = DELETE')
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
  // The rows are consistent by construction; checking a foreign key per generated row would double the time.
  db.pragma('foreign_keys = OFF')
  return db
}

/**
 * Leaves the template in WAL mode with everything in the main file, as `openDatabase` would find it. Small
 * templates are checked for foreign-key violations (the large one is made by the same statements).
 */
function closeClean(db: Database.Database, check: boolean): void {
  if (check) {
    const violations = db.pragma('foreign_key_check') as unknown[]
    if (violations.length > 0) throw new Error(`template has ${violations.length} foreign-key violations: ${JSON.stringify(violations.slice(0, 3))}`)
  }
  db.pragma('journal_mode = WAL')
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

/**
 * A deployed pipeline workflow (whose producer publishes `events` new events) with `existing` events already
 * consumed: one completed session, one committed consumer run per 100 events, the events consumed by them. Ids are
 * zero-padded so every index receives its rows in order (appends instead of random inserts).
 */
export async function historyTemplate(file: string, options: { existing: number; events: number }): Promise<TemplateInfo> {
  const start = performance.now()
  const env = await openEnv(file, { synchronous: 'NORMAL' })
  const { workflowId, scriptId } = await env.engine.deployWorkflow({ title: 'scaling', code: pipelineScript(options.events) })
  const topic = (await env.db.topics.getByName(workflowId, 'items'))!.id
  await env.close()
  const db = reopen(file)
  const runs = Math.ceil(options.existing / 100)
  const p = { wf: workflowId, script: scriptId, topic, t0: Date.now() - 86_400_000, runs, events: options.existing }
  db.transaction(() => {
    db.prepare(`insert into script_runs (id, workflow_id, script_id, trigger, status, handler_run_count, max_iterations, start_timestamp, end_timestamp)
      values ('s-history', @wf, @script, 'manual', 'completed', @runs, 100000, @t0, @t0 + 1)`).run(p)
    db.prepare(`with recursive n(i) as (select 1 union all select i + 1 from n where i < @runs)
      insert into handler_runs (id, script_run_id, workflow_id, script_id, handler_type, handler_name, ordinal, phase, status, attempt,
        prepare_result, input_state, output_state, start_timestamp, end_timestamp)
      select printf('hr-%08d', i), 's-history', @wf, @script, 'consumer', 'proc', i, 'committed', 'committed', 1,
        '{"reservations":[{"topic":"items","ids":["old"]}],"data":{}}', 'null', '{"last":' || i || '}', @t0 + i, @t0 + i from n`).run(p)
    db.prepare(`with recursive n(i) as (select 1 union all select i + 1 from n where i < @events)
      insert into events (id, topic_id, workflow_id, message_id, title, payload, status, reserved_by_run_id, attempt_number, sequence, created_at, updated_at)
      select printf('he-%08d', i), @topic, @wf, printf('old-%08d', i), 'Item ' || i, '{"i":' || i || '}', 'consumed',
        printf('hr-%08d', (i - 1) / 100 + 1), 1, i, @t0, @t0 from n`).run(p)
    db.prepare('update workflows set event_sequence = @events where id = @wf').run(p)
  })()
  closeClean(db, options.existing <= 10_000)
  return { file, workflowId, generateMs: round(performance.now() - start, 0) }
}

/**
 * `workflows` workflows (the consumer-only script), each with one open session left behind by a dead worker (lease
 * expired), one unfinished consumer run in `preparing` and one pending event: what recovery finds after a crash.
 */
export async function crashedTemplate(file: string, options: { workflows: number }): Promise<TemplateInfo> {
  const start = performance.now()
  const env = await openEnv(file, { synchronous: 'NORMAL' })
  const { workflowId, scriptId } = await env.engine.deployWorkflow({ id: 'wf-0', title: 'recovery 0', code: consumerOnlyScript() })
  await env.close()
  const db = reopen(file)
  const p = { wf: workflowId, script: scriptId, n: options.workflows, t0: Date.now() - 60_000 }
  db.transaction(() => {
    const clone = (sql: string) => db.prepare(`with recursive n(i) as (select 1 union all select i + 1 from n where i < @n - 1) ${sql}`).run(p)
    clone(`insert into workflows (id, title, status, active_script_id, handler_config, event_sequence, created_at, updated_at)
      select 'wf-' || i, 'recovery ' || i, 'active', null, handler_config, 0, created_at, updated_at from n, workflows where id = @wf`)
    clone(`insert into scripts (id, workflow_id, version, code, handler_config, created_at)
      select 'sc-' || i, 'wf-' || i, 1, code, handler_config, created_at from n, scripts where id = @script`)
    db.prepare(`update workflows set active_script_id = 'sc-' || substr(id, 4) where id <> @wf`).run(p)
    clone(`insert into topics (id, workflow_id, name, created_at) select 'tp-' || i, 'wf-' || i, 'items', @t0 from n`)
    // Every workflow, the deployed one included (i = 0), gets the crashed session, run and event.
    const all = (sql: string) => db.prepare(`with recursive n(i) as (select 0 union all select i + 1 from n where i < @n - 1) ${sql}`).run(p)
    all(`insert into script_runs (id, workflow_id, script_id, trigger, status, handler_run_count, producers, max_iterations, start_timestamp, owner, lease_expires_at)
      select 'ss-' || i, 'wf-' || i, case when i = 0 then @script else 'sc-' || i end, 'event', 'running', 1, '[]', 100, @t0, 'dead-host/1/bench', @t0 + 1000 from n`)
    all(`insert into handler_runs (id, script_run_id, workflow_id, script_id, handler_type, handler_name, ordinal, phase, status, attempt, start_timestamp)
      select 'hr-' || i, 'ss-' || i, 'wf-' || i, case when i = 0 then @script else 'sc-' || i end, 'consumer', 'proc', 1, 'preparing', 'active', 1, @t0 from n`)
    all(`insert into events (id, topic_id, workflow_id, message_id, title, payload, status, attempt_number, sequence, created_at, updated_at)
      select 'ev-' || i, case when i = 0 then (select id from topics where workflow_id = @wf) else 'tp-' || i end, 'wf-' || i, 'm0', 'Item 0', '{"i":0}',
        'pending', 1, 1, @t0, @t0 from n`)
    db.prepare('update workflows set event_sequence = 1').run()
  })()
  closeClean(db, true)
  return { file, workflowId, generateMs: round(performance.now() - start, 0) }
}

/**
 * `workflows` consumer-only workflows sharing `events` pending events (round robin), as if published and not yet
 * consumed: the workflow-count scaling runs a worker on a copy.
 */
export async function pendingTemplate(file: string, options: { workflows: number; events: number }): Promise<TemplateInfo> {
  const start = performance.now()
  const env = await openEnv(file, { synchronous: 'NORMAL' })
  const { workflowId, scriptId } = await env.engine.deployWorkflow({ id: 'wf-0', title: 'pending 0', code: consumerOnlyScript() })
  await env.close()
  const db = reopen(file)
  const p = { wf: workflowId, script: scriptId, n: options.workflows, events: options.events, t0: Date.now() - 60_000 }
  db.transaction(() => {
    const clone = (sql: string) => db.prepare(`with recursive n(i) as (select 1 union all select i + 1 from n where i < @n - 1) ${sql}`).run(p)
    if (options.workflows > 1) {
      clone(`insert into workflows (id, title, status, active_script_id, handler_config, event_sequence, created_at, updated_at)
        select 'wf-' || i, 'pending ' || i, 'active', null, handler_config, 0, created_at, updated_at from n, workflows where id = @wf`)
      clone(`insert into scripts (id, workflow_id, version, code, handler_config, created_at)
        select 'sc-' || i, 'wf-' || i, 1, code, handler_config, created_at from n, scripts where id = @script`)
      db.prepare(`update workflows set active_script_id = 'sc-' || substr(id, 4) where id <> @wf`).run(p)
      clone(`insert into topics (id, workflow_id, name, created_at) select 'tp-' || i, 'wf-' || i, 'items', @t0 from n`)
    }
    // Event k goes to workflow k % n, with the workflow's own sequence numbers.
    db.prepare(`with recursive e(k) as (select 0 union all select k + 1 from e where k < @events - 1)
      insert into events (id, topic_id, workflow_id, message_id, title, payload, status, attempt_number, sequence, created_at, updated_at)
      select printf('ev-%08d', k), t.id, t.workflow_id, 'm' || k, 'Item ' || k, '{"i":' || k || '}', 'pending', 1, k / cast(@n as integer) + 1, @t0, @t0
      from e join topics t on t.workflow_id = 'wf-' || (k % cast(@n as integer))`).run(p)
    const inserted = (db.prepare('select count(*) as n from events').get() as { n: number }).n
    if (inserted !== options.events) throw new Error(`pending template has ${inserted} of ${options.events} events`)
    db.prepare(`update workflows set event_sequence = (select count(*) from events where events.workflow_id = workflows.id)`).run()
  })()
  closeClean(db, true)
  return { file, workflowId, generateMs: round(performance.now() - start, 0) }
}
