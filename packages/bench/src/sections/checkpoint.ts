/**
 * Phase cost of the database: one consumer commit checkpoint (run → committed, reserved events → consumed, state)
 * through the engine's stores in `db.transaction` (kysely), against the same statements as raw better-sqlite3
 * prepared statements. Under FULL this is the real cost of a checkpoint; under OFF (no fsync) the difference is the
 * store layer's overhead per statement.
 */
import type { LedgerflowDb } from '@ledgerflow/db'
import { round, median } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { openEnv, pipelineScript } from '../lib/workload.js'

/** Parameters of the checkpoint measurement. */
export interface CheckpointParams {
  synchronous: 'FULL' | 'NORMAL' | 'OFF'
  samples: number
}

/** Statements of the measured checkpoint (BEGIN and COMMIT not counted). */
const STATEMENTS = 3

/** Alternates kysely and raw checkpoints, each on a fresh run with one reserved event. */
export async function checkpoint(params: CheckpointParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.file('checkpoint.db'), { synchronous: params.synchronous === 'OFF' ? 'NORMAL' : params.synchronous })
  try {
    const { db } = env
    const native = db.native!
    if (params.synchronous === 'OFF') native.pragma('synchronous = OFF')
    const { workflowId, scriptId } = await env.engine.deployWorkflow({ title: 'checkpoint', code: pipelineScript(1) })
    const topic = (await db.topics.getByName(workflowId, 'items'))!.id
    const setup = fixtures(native, { workflowId, scriptId, topic, now: Date.now() })
    const { stores, raws } = await alternate(params.samples, setup, { raw: rawCommit(native, workflowId), store: storeCommit(db, workflowId) })
    const store = median(stores)
    const rawMs = median(raws)
    return {
      storeMs: round(store, 4),
      rawMs: round(rawMs, 4),
      statements: STATEMENTS,
      overheadUsPerStatement: round(((store - rawMs) * 1000) / STATEMENTS, 1),
    }
  } finally {
    await env.close()
    dir.remove()
  }
}

/** The native SQLite handle. */
type Native = NonNullable<LedgerflowDb['native']>

/** One commit checkpoint of run `run`, storing `state`, at `at`. */
type Commit = (run: string, state: string, at: number) => unknown

/**
 * Inserts the open session, and returns the function that writes checkpoint `i`'s fixtures: run `r<i>` (prepared,
 * active) and its reserved event.
 */
function fixtures(native: Native, { workflowId, scriptId, topic, now }: { workflowId: string; scriptId: string; topic: string; now: number }): (i: number) => void {
  native.prepare(`insert into script_runs (id, workflow_id, script_id, trigger, status, max_iterations, start_timestamp, owner, lease_expires_at)
    values ('s1', ?, ?, 'manual', 'running', 100000, ?, 'bench', ?)`).run(workflowId, scriptId, now, now + 3_600_000)
  const insertRun = native.prepare(`insert into handler_runs (id, script_run_id, workflow_id, script_id, handler_type, handler_name, ordinal, phase, status, attempt, start_timestamp)
    values (?, 's1', ?, ?, 'consumer', 'proc', ?, 'prepared', 'active', 1, ?)`)
  const insertEvent = native.prepare(`insert into events (id, topic_id, workflow_id, message_id, title, payload, status, reserved_by_run_id, sequence, created_at, updated_at)
    values (?, ?, ?, ?, 't', '{}', 'reserved', ?, ?, ?, ?)`)
  return native.transaction((i: number) => {
    insertRun.run(`r${i}`, workflowId, scriptId, i + 1, now)
    insertEvent.run(`e${i}`, topic, workflowId, `m${i}`, `r${i}`, i + 1, now, now)
  })
}

/** The checkpoint's statements as raw better-sqlite3 prepared statements, in one IMMEDIATE transaction. */
function rawCommit(native: Native, workflowId: string): Commit {
  const raw = [
    native.prepare(`update handler_runs set phase = 'committed', status = 'committed', attempt = 1, retry_at = null, error = null, error_type = null,
      end_timestamp = ?, output_state = ? where id = ? and phase in ('prepared') and status in ('active')`),
    native.prepare(`update events set status = 'consumed', updated_at = ? where reserved_by_run_id = ? and status = 'reserved'`),
    native.prepare(`insert into handler_state (workflow_id, handler_name, state, updated_at, updated_by_run_id) values (?, 'proc', ?, ?, ?)
      on conflict (workflow_id, handler_name) do update set state = excluded.state, updated_at = excluded.updated_at, updated_by_run_id = excluded.updated_by_run_id`),
  ]
  return native.transaction((run: string, state: string, at: number) => {
    raw[0]!.run(at, state, run)
    raw[1]!.run(at, run)
    raw[2]!.run(workflowId, state, at, run)
  }).immediate
}

/** The checkpoint through the engine's stores in `db.transaction` (kysely). */
function storeCommit(db: LedgerflowDb, workflowId: string): Commit {
  return (run, state, at) =>
    db.transaction(async (tx) => {
      const moved = !(await tx.runs.transition(run, { phase: 'prepared', status: 'active' }, {
        phase: 'committed', status: 'committed', attempt: 1, retry_at: null, error: null, error_type: null, end_timestamp: at, output_state: state,
      }))
      if (moved) throw new Error('run moved')
      await tx.events.consume(run, at)
      await tx.handlerState.put({ workflowId, handlerName: 'proc', state, runId: run, now: at })
      await tx.logs.append(run, [], { maxLines: 1000 })
      await tx.runs.addCost(run, 0)
    })
}

/** Times `samples` store and `samples` raw checkpoints, alternating, after 20 of each as warm-up. */
async function alternate(samples: number, setup: (i: number) => void, commit: { store: Commit; raw: Commit }): Promise<{ stores: number[]; raws: number[] }> {
  const stores: number[] = []
  const raws: number[] = []
  const warmup = 20
  for (let i = 0; i < 2 * (samples + warmup); i++) {
    setup(i)
    const state = JSON.stringify({ last: i })
    const start = performance.now()
    if (i % 2 === 0) await commit.store(`r${i}`, state, Date.now())
    else commit.raw(`r${i}`, state, Date.now())
    const ms = performance.now() - start
    if (i >= 2 * warmup) (i % 2 === 0 ? stores : raws).push(ms)
  }
  return { stores, raws }
}
