/** Scripts and helpers shared by the integration suite. */
import type { LedgerflowDb } from '@ledgerflow/db'
import { type RecordingTool, type TestEngine, type TestEngineOptions, createTestEngine, recordingTool } from '../src/kit/index.js'

/** A producer that publishes `count` events per run to `topic`, numbering them after its state. */
export function producer(name: string, options: { topic?: string; count?: number; schedule?: string; fail?: string } = {}): string {
  const topic = options.topic ?? 'items'
  const count = options.count ?? 3
  const schedule = options.schedule ?? '{ interval: "5m" }'
  const body = options.fail
    ? `throw new Error(${JSON.stringify(options.fail)})`
    : `const n = (state && state.n) || 0
        for (let i = 0; i < ${count}; i++) {
          await Topics.publish({ topic: "${topic}", event: { messageId: "${name}-" + (n + i), title: "item " + (n + i), payload: { i: n + i } } })
        }
        return { n: n + ${count} }`
  return `${name}: {
      schedule: ${schedule},
      publishes: ["${topic}"],
      handler: async (state) => {
        ${body}
      },
    }`
}

/** A consumer that reserves one event at a time and sends it with `Tool.send` (or without a mutate). */
export function consumer(
  name: string,
  options: { topic?: string; tool?: string | null; next?: string; prepare?: string; publishes?: string[] } = {},
): string {
  const topic = options.topic ?? 'items'
  const tool = options.tool === undefined ? 'Out.send' : options.tool
  const prepare =
    options.prepare ??
    `async () => {
        const [e] = await Topics.peek({ topic: "${topic}", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "${topic}", ids: [e.messageId] }], data: { id: e.messageId, i: e.payload.i }, ui: { title: "send " + e.messageId } }
      }`
  const mutate = tool === null ? '' : `mutate: async (p) => { await ${tool}({ id: p.data.id, i: p.data.i }) },`
  const next = options.next ?? `async (p, r) => ({ last: p.data ? p.data.id : null, result: r })`
  return `${name}: {
      subscribe: ["${topic}"],
      publishes: ${JSON.stringify(options.publishes ?? [])},
      prepare: ${prepare},
      ${mutate}
      next: ${next},
    }`
}

/** Assembles a script from producer and consumer snippets. */
export function script(parts: { topics?: string[]; producers?: string[]; consumers?: string[] }): string {
  const topics = parts.topics ?? ['items']
  return `const workflow = {
  topics: { ${topics.map((t) => `"${t}": {}`).join(', ')} },
  producers: { ${(parts.producers ?? []).join(',\n    ')} },
  consumers: { ${(parts.consumers ?? []).join(',\n    ')} },
};
`
}

/** The standard pipeline: one producer of 3 items, one consumer sending each with `Out.send`. */
export const PIPELINE = script({ producers: [producer('gen')], consumers: [consumer('send')] })

/** A test engine with the `Out.send` mutation tool and `In.read` read tool. */
export async function pipelineEnv(options: TestEngineOptions = {}): Promise<TestEngine & { out: RecordingTool; read: RecordingTool }> {
  const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation' })
  const read = recordingTool({ namespace: 'In', name: 'read', kind: 'read', result: () => ({ value: 1 }) })
  const env = await createTestEngine({ ...options, tools: [out.tool, read.tool, ...(options.tools ?? [])] })
  return Object.assign(env, { out, read })
}

/** A comparable view of a workflow's durable state, without ids and timestamps (SPEC §13.5). */
export async function durableState(db: LedgerflowDb, workflowId: string) {
  const events = await db.events.listByWorkflow(workflowId)
  const states = await db.handlerState.listByWorkflow(workflowId)
  const mutations = await db.mutations.listByWorkflow(workflowId)
  const workflow = await db.workflows.get(workflowId)
  return {
    workflow: { status: workflow?.status, error: workflow?.error ?? null },
    events: events.map((e) => `${e.topic}/${e.message_id}:${e.status}:${e.attempt_number}`).sort(),
    states: states.map((s) => `${s.handler_name}=${s.state}`).sort(),
    mutations: mutations.map((m) => `${m.tool_namespace}.${m.tool_method}(${m.params}):${m.status}`).sort(),
  }
}

/** Runs of a workflow in creation order, as `type:name:phase:status`. */
export async function runSummary(db: LedgerflowDb, workflowId: string): Promise<string[]> {
  const runs = await db.kysely
    .selectFrom('handler_runs')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .orderBy('start_timestamp')
    .orderBy('script_run_id')
    .orderBy('ordinal')
    .execute()
  return runs.map((r) => `${r.handler_type}:${r.handler_name}:${r.phase}:${r.status}`)
}
