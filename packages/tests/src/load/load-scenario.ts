/**
 * The load scenario: many workflows, each with a producer that publishes its share of the events in one run and a
 * consumer that reserves them in batches and writes each batch to a sink (a mutation tool whose effects are counted
 * by idempotency key), then counts them in its state. At the end every event must be consumed exactly once and be in
 * exactly one applied effect: no loss, no duplicate.
 */
import { type Engine, defineTool } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import { z } from 'zod'
import { type EffectLog, memoryEffectLog } from '../kit/recording-tool.js'

/** Size of a load run. */
export interface LoadSize {
  workflows: number
  /** Events per workflow. */
  eventsPerWorkflow: number
  /** Events a consumer run takes at once. */
  batch: number
}

/** The script of one load workflow. */
export function loadScript(size: LoadSize): string {
  return `const workflow = {
  topics: { jobs: {} },
  producers: {
    feed: {
      schedule: { interval: "1d" },
      publishes: ["jobs"],
      handler: async (state) => {
        if (state && state.done) return undefined
        for (let i = 0; i < ${size.eventsPerWorkflow}; i++) {
          await Topics.publish({ topic: "jobs", event: { messageId: "job-" + i, title: "job " + i, payload: { i } } })
        }
        return { done: true }
      },
    },
  },
  consumers: {
    work: {
      subscribe: ["jobs"],
      prepare: async (state) => {
        const events = await Topics.peek({ topic: "jobs", limit: ${size.batch} })
        if (events.length === 0) return { reservations: [] }
        const ids = events.map((e) => e.messageId)
        return { reservations: [{ topic: "jobs", ids }], data: { ids, count: (state && state.count) || 0 } }
      },
      mutate: async (p) => { await Sink.write({ ids: p.data.ids }) },
      next: async (p) => (p.data ? { count: p.data.count + p.data.ids.length } : undefined),
    },
  },
};`
}

/** The sink: a mutation tool recording each batch under its idempotency key (with the workflow). */
export function sinkTool(effects: EffectLog = memoryEffectLog()) {
  const tool = defineTool({
    namespace: 'Sink',
    name: 'write',
    kind: 'mutation',
    description: 'Writes a batch of jobs to the sink.',
    input: z.object({ ids: z.array(z.string()).min(1) }),
    async execute(input, ctx) {
      effects.apply(ctx.idempotencyKey!, { workflow: ctx.workflowId, ids: input.ids })
      return { written: input.ids.length }
    },
    async reconcile(input, ctx) {
      return effects.count(ctx.idempotencyKey!) > 0 ? { status: 'applied', result: { written: input.ids.length } } : { status: 'not_applied' }
    },
  })
  return { tool, effects }
}

/** Workflow ids of a load run. */
export function loadWorkflowIds(size: LoadSize): string[] {
  const width = String(size.workflows).length
  return Array.from({ length: size.workflows }, (_, i) => `load-${String(i + 1).padStart(width, '0')}`)
}

/** Deploys every workflow of the load run (skipping those that exist). */
export async function deployLoad(engine: Engine, db: LedgerflowDb, size: LoadSize): Promise<void> {
  const code = loadScript(size)
  for (const id of loadWorkflowIds(size)) {
    if (!(await db.workflows.get(id))) await engine.deployWorkflow({ id, title: `Load ${id}`, code })
  }
}

/** Events by status over the whole database. */
export async function eventCounts(db: LedgerflowDb): Promise<Record<string, number>> {
  const rows = await db.kysely.selectFrom('events').select((eb) => ['status', eb.fn.countAll<number>().as('n')]).groupBy('status').execute()
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
}

/** What the final accounting found. */
export interface LoadAccounting {
  events: number
  consumed: number
  /** Events that are not consumed, or missing from the sink. */
  lost: number
  /** Events written to the sink more than once, and idempotency keys applied more than once. */
  duplicates: number
  problems: string[]
}

/** No loss, no duplicate: every expected event exists, is consumed, and is in exactly one applied effect. */
export async function accountLoad(db: LedgerflowDb, size: LoadSize, effects: EffectLog): Promise<LoadAccounting> {
  const problems: string[] = []
  const written = new Map<string, number>()
  let duplicates = 0
  for (const e of effects.entries()) {
    if (e.count > 1) {
      duplicates++
      problems.push(`effect ${e.key} was applied ${e.count} times`)
    }
    const input = e.input as { workflow: string; ids: string[] }
    for (const id of input.ids) written.set(`${input.workflow}/${id}`, (written.get(`${input.workflow}/${id}`) ?? 0) + e.count)
  }
  const rows = await db.kysely.selectFrom('events').select(['workflow_id', 'message_id', 'status']).execute()
  const status = new Map(rows.map((r) => [`${r.workflow_id}/${r.message_id}`, r.status]))
  let lost = 0
  for (const workflowId of loadWorkflowIds(size)) {
    for (let i = 0; i < size.eventsPerWorkflow; i++) {
      const key = `${workflowId}/job-${i}`
      const n = written.get(key) ?? 0
      if (status.get(key) !== 'consumed' || n === 0) {
        lost++
        if (problems.length < 50) problems.push(`${key} is ${status.get(key) ?? 'missing'} and was written ${n} times`)
      } else if (n > 1) {
        duplicates++
        if (problems.length < 50) problems.push(`${key} was written ${n} times`)
      }
    }
  }
  return { events: rows.length, consumed: rows.filter((r) => r.status === 'consumed').length, lost, duplicates, problems }
}
