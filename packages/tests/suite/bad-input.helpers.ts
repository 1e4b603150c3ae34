/**
 * Shared by the bad-input suites: a well-behaved workflow that has committed work before the bad input arrives,
 * and a snapshot of everything it committed, so each test can show that nothing committed was lost.
 */
import type { LedgerflowDb } from '@ledgerflow/db'
import { z } from 'zod'
import { type RecordingTool, type TestEngine, type TestEngineOptions, createTestEngine, recordingTool } from '../src/kit/index.js'

/** A producer of two items and a consumer that sends each with `Out.send({ to, id })`. */
export const GOOD = `const workflow = {
  topics: { items: {} },
  producers: {
    gen: {
      schedule: { interval: "1h" },
      publishes: ["items"],
      handler: async (state) => {
        const n = (state && state.n) || 0
        for (let i = n; i < n + 2; i++) await Topics.publish({ topic: "items", event: { messageId: "m" + i, payload: { i } } })
        return { n: n + 2 }
      },
    },
  },
  consumers: {
    send: {
      subscribe: ["items"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "items", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId } }
      },
      mutate: async (p) => { await Out.send({ to: "ops", id: p.data.id }) },
      next: async (p) => ({ last: p.data ? p.data.id : null }),
    },
  },
};`

/** Builds a script from a producer body and consumer phases (each defaults to the GOOD workflow's). */
export function variant(parts: { producer?: string; prepare?: string; mutate?: string; next?: string; publishes?: string }): string {
  const producer =
    parts.producer ??
    `const n = (state && state.n) || 0
        for (let i = n; i < n + 2; i++) await Topics.publish({ topic: "items", event: { messageId: "m" + i, payload: { i } } })
        return { n: n + 2 }`
  return `const workflow = {
  topics: { items: {} },
  producers: {
    gen: { schedule: { interval: "1h" }, publishes: ["items"], handler: async (state) => {
        ${producer}
      } },
  },
  consumers: {
    send: {
      subscribe: ["items"],
      publishes: ${parts.publishes ?? '[]'},
      prepare: ${parts.prepare ?? `async () => {
        const [e] = await Topics.peek({ topic: "items", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId } }
      }`},
      mutate: ${parts.mutate ?? `async (p) => { await Out.send({ to: "ops", id: p.data.id }) }`},
      next: ${parts.next ?? `async (p) => ({ last: p.data ? p.data.id : null })`},
    },
  },
};`
}

/** A test engine with `Out.send` (schema `{ to, id }`) and `In.read`, and a bystander workflow that already ran. */
export async function badInputEnv(options: TestEngineOptions = {}): Promise<TestEngine & { out: RecordingTool; read: RecordingTool }> {
  const out = recordingTool({
    namespace: 'Out',
    name: 'send',
    kind: 'mutation',
    description: 'Sends one item to a recipient.',
    input: z.object({ to: z.string(), id: z.string() }),
  })
  const read = recordingTool({ namespace: 'In', name: 'read', kind: 'read', result: () => ({ value: 1 }) })
  const env = await createTestEngine({ ...options, tools: [out.tool, read.tool, ...(options.tools ?? [])] })
  await env.engine.deployWorkflow({ id: 'bystander', title: 'Bystander', code: GOOD })
  await env.engine.runSession('bystander')
  return Object.assign(env, { out, read })
}

/** Everything a workflow committed, without timestamps: compare before and after the bad input. */
export async function committed(db: LedgerflowDb, workflowId: string) {
  const k = db.kysely
  const [workflow, scripts, events, states, mutations, runs, logs] = await Promise.all([
    db.workflows.get(workflowId),
    k.selectFrom('scripts').select(['id', 'version', 'code']).where('workflow_id', '=', workflowId).orderBy('version').execute(),
    k.selectFrom('events').select(['id', 'message_id', 'status', 'payload', 'attempt_number', 'reserved_by_run_id']).where('workflow_id', '=', workflowId).orderBy('sequence').execute(),
    k.selectFrom('handler_state').select(['handler_name', 'state', 'updated_by_run_id']).where('workflow_id', '=', workflowId).orderBy('handler_name').execute(),
    k.selectFrom('mutations').select(['id', 'status', 'params', 'result']).where('workflow_id', '=', workflowId).orderBy('id').execute(),
    k.selectFrom('handler_runs').select(['id', 'phase', 'status']).where('workflow_id', '=', workflowId).orderBy('id').execute(),
    k.selectFrom('run_logs').innerJoin('handler_runs', 'handler_runs.id', 'run_logs.handler_run_id').select(['run_logs.handler_run_id', 'run_logs.sequence', 'run_logs.message']).where('handler_runs.workflow_id', '=', workflowId).orderBy('run_logs.handler_run_id').orderBy('run_logs.sequence').execute(),
  ])
  return { status: workflow?.status, activeScript: workflow?.active_script_id, scripts, events, states, mutations, runs, logs }
}

/** The runs of a workflow that did not commit, as `{ handler, phase, status, errorType, error }`. */
export async function unfinishedRuns(db: LedgerflowDb, workflowId: string) {
  const rows = await db.kysely
    .selectFrom('handler_runs')
    .select(['handler_name', 'phase', 'status', 'error', 'error_type'])
    .where('workflow_id', '=', workflowId)
    .where('status', '!=', 'committed')
    .execute()
  return rows.map((r) => ({ handler: r.handler_name, phase: r.phase, status: r.status, errorType: r.error_type, error: r.error }))
}
