/**
 * The physical floor of the pipeline: the same durable commits per event, done directly with better-sqlite3
 * prepared statements on the same schema (no engine, no sandbox), and one bare sandbox evaluation of each phase of
 * the same handler on the engine's own runner. The engine's overhead is engine ÷ (floor + 3 × bare evaluation).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { JsonValue } from '@ledgerflow/sandbox'
import Database from 'better-sqlite3'
import { median, round, sample } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { type Synchronous, openEnv, pipelineScript } from '../lib/workload.js'

/** Parameters of the raw-commit floor. */
export interface FloorParams {
  synchronous: Synchronous
  events: number
  /** Durable commits per event (the engine's, measured by the profile run). */
  commits: number
}

/** The essential writes of one consumer run, in the order the engine makes them. */
const STATEMENTS = [
  `insert into handler_runs (id, script_run_id, workflow_id, script_id, handler_type, handler_name, ordinal, phase, status, attempt, start_timestamp)
   values (@run, @session, @wf, @script, 'consumer', 'proc', @ordinal, 'preparing', 'active', 1, @now)`,
  'update script_runs set handler_run_count = handler_run_count + 1 where id = @session',
  `update events set status = 'reserved', reserved_by_run_id = @run, updated_at = @now
   where topic_id = @topic and message_id = @message and status = 'pending'`,
  `update handler_runs set phase = 'prepared', prepare_result = @prepared, input_state = @state
   where id = @run and phase = 'preparing' and status = 'active'`,
  `update events set status = 'consumed', updated_at = @now where reserved_by_run_id = @run and status = 'reserved'`,
  `insert into handler_state (workflow_id, handler_name, state, updated_at, updated_by_run_id) values (@wf, 'proc', @state, @now, @run)
   on conflict (workflow_id, handler_name) do update set state = excluded.state, updated_at = excluded.updated_at, updated_by_run_id = excluded.updated_by_run_id`,
  `update handler_runs set phase = 'committed', status = 'committed', end_timestamp = @now, output_state = @state
   where id = @run and phase = 'prepared' and status = 'active'`,
]

/** Splits the statements into `commits` consecutive groups of near-equal size (pure). */
export function groups<T>(items: readonly T[], commits: number): T[][] {
  const n = Math.max(1, Math.min(items.length, Math.round(commits)))
  const out: T[][] = []
  for (let g = 0, at = 0; g < n; g++) {
    const size = Math.floor((items.length - at) / (n - g))
    out.push(items.slice(at, at + size))
    at += size
  }
  return out
}

/** Raw commits per event on a fresh file: ms per event. */
export async function floor(params: FloorParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const file = dir.file('floor.db')
  try {
    const env = await openEnv(file, { synchronous: params.synchronous })
    const { workflowId, scriptId } = await env.engine.deployWorkflow({ title: 'floor', code: pipelineScript(1) })
    await env.close()
    const db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${params.synchronous}`)
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    const topic = (db.prepare("select id from topics where workflow_id = ? and name = 'items'").get(workflowId) as { id: string }).id
    const now = Date.now()
    db.prepare(`insert into script_runs (id, workflow_id, script_id, trigger, status, max_iterations, start_timestamp, owner, lease_expires_at)
      values ('s1', ?, ?, 'manual', 'running', 100000, ?, 'bench', ?)`).run(workflowId, scriptId, now, now + 3_600_000)
    const insertEvent = db.prepare(`insert into events (id, topic_id, workflow_id, message_id, title, payload, status, sequence, created_at, updated_at)
      values (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`)
    db.transaction(() => {
      for (let i = 0; i < params.events; i++) insertEvent.run(`e${i}`, topic, workflowId, `m${i}`, `Item ${i}`, JSON.stringify({ i }), i + 1, now, now)
    })()
    const txs = groups(STATEMENTS.map((sql) => db.prepare(sql)), params.commits).map((stmts) =>
      db.transaction((p: Record<string, unknown>) => {
        for (const s of stmts) s.run(p)
      }),
    )
    const times: number[] = []
    for (let i = 0; i < params.events; i++) {
      const p = {
        run: `r${i}`, session: 's1', wf: workflowId, script: scriptId, ordinal: i + 1, now: Date.now(), topic, message: `m${i}`,
        prepared: JSON.stringify({ reservations: [{ topic: 'items', ids: [`m${i}`] }], data: { i } }),
        state: JSON.stringify({ last: i, mutation: 'none' }),
      }
      const start = performance.now()
      for (const tx of txs) tx.immediate(p)
      times.push(performance.now() - start)
    }
    const consumed = (db.prepare("select count(*) as n from events where status = 'consumed'").get() as { n: number }).n
    db.close()
    if (consumed !== params.events) throw new Error(`floor consumed ${consumed} of ${params.events}`)
    return { msPerEvent: round(times.reduce((a, b) => a + b, 0) / params.events), commits: txs.length, p50: round(median(times)) }
  } finally {
    dir.remove()
  }
}

/** Parameters of the bare evaluations. */
export interface BareParams {
  samples: number
}

const PEEKED = [{ id: 'e1', messageId: 'm1', title: 'Item 1', payload: { i: 1 }, topic: 'items' }]
const PREPARED = { reservations: [{ topic: 'items', ids: ['m1'] }], data: { i: 1 } }

/**
 * One bare evaluation of each phase of the pipeline's consumer on the engine's own runner (no database): ms
 * medians. A short untimed pause before each sample lets a pooled runner refill, so this is the runner's latency
 * when it is not saturated (the strictest denominator): since the engine keeps instances on the calling thread too
 * (`sandboxCallerPool`), an idle engine evaluates there. `*Thread` figures are the same on the sandbox thread alone
 * (`sandboxCallerPool: 0`), the denominator of the runs before that.
 */
export async function bare(params: BareParams): Promise<Record<string, number>> {
  const figures: Record<string, number> = {}
  const code = pipelineScript(1)
  const host = async (call: { namespace: string; method: string }): Promise<JsonValue | undefined> => (call.method === 'peek' ? PEEKED : undefined)
  for (const [suffix, engine] of [['', {}], ['Thread', { sandboxCallerPool: 0 }]] as const) {
    const env = await openEnv(':memory:', { engine })
    try {
      const runner = env.engine.context.sandbox
      const globals = env.engine.context.tools.globals
      const phase = (method: string, args: JsonValue[]) => async () => {
        const outcome = await runner.evaluate({ code, scriptKey: 'bare', handler: { group: 'consumers', name: 'proc', method }, args, globals, host })
        if (!outcome.ok) throw new Error(`${method}: ${outcome.error.message}`)
      }
      Object.assign(figures, await bareFigures({ phase, samples: params.samples, suffix }))
    } finally {
      await env.close()
    }
  }
  figures.plainSum = round(await plainPhases(code, host, params.samples))
  return figures
}

/** Each phase after a 3 ms pause and back to back, and their sums, named with `suffix`. */
async function bareFigures(options: { phase: (method: string, args: JsonValue[]) => () => Promise<void>; samples: number; suffix: string }): Promise<Record<string, number>> {
  const { phase, samples, suffix } = options
  const figures: Record<string, number> = {}
  const phases: Array<[string, JsonValue[]]> = [['prepare', [null]], ['mutate', [PREPARED]], ['next', [PREPARED, { status: 'none' }]]]
  for (const [method, args] of phases) {
    const run = phase(method, args)
    for (let i = 0; i < 10; i++) await run()
    const idle: number[] = []
    for (let i = 0; i < samples; i++) {
      await sleep(3)
      const start = performance.now()
      await run()
      idle.push(performance.now() - start)
    }
    figures[`${method}${suffix}`] = round(median(idle))
    figures[`${method}BackToBack${suffix}`] = round(median(await sample(run, samples, 5)))
  }
  figures[`sum${suffix}`] = round(figures[`prepare${suffix}`]! + figures[`mutate${suffix}`]! + figures[`next${suffix}`]!)
  figures[`sumBackToBack${suffix}`] = round(figures[`prepareBackToBack${suffix}`]! + figures[`mutateBackToBack${suffix}`]! + figures[`nextBackToBack${suffix}`]!)
  return figures
}

/** The same three phases in the host realm (`new Function`, no isolation): median ms of the three together. */
async function plainPhases(code: string, host: (call: { namespace: string; method: string }) => Promise<JsonValue | undefined>, samples: number): Promise<number> {
  const Topics = { peek: (input: JsonValue) => host({ namespace: 'Topics', method: 'peek', ...{ input } }) }
  const json = (v: unknown) => JSON.parse(JSON.stringify(v ?? null)) as JsonValue
  const cycle = async () => {
    for (const [method, args] of [['prepare', [null]], ['mutate', [PREPARED]], ['next', [PREPARED, { status: 'none' }]]] as const) {
      const workflow = new Function('Topics', 'console', `${code}\n;return workflow;`)(Topics, console)
      json(await workflow.consumers.proc[method](...json(args) as unknown[]))
    }
  }
  return median(await sample(cycle, samples, 10))
}
