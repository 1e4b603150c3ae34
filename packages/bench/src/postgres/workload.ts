/**
 * The PostgreSQL bench workload: workflows whose one consumer takes one event per run (`prepare` reserves it,
 * `mutate` calls the `Bench.apply` mutation tool once, `next` returns a small state), and events published in bulk
 * before the timed part.
 */
import { type Tool, defineTool } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import { z } from 'zod'

/** The consumer run of the comparison: prepare, mutate, next. */
export const CONSUMER_SCRIPT = `const workflow = {
  topics: { items: {} },
  consumers: {
    apply: {
      subscribe: ["items"],
      prepare: async () => {
        const pending = await Topics.peek({ topic: "items", limit: 1 });
        if (pending.length === 0) return { reservations: [] };
        const ev = pending[0];
        return { reservations: [{ topic: "items", ids: [ev.messageId] }], data: { i: ev.payload.i } };
      },
      mutate: async (prepared) => { await Bench.apply({ i: prepared.data.i }); },
      next: async (prepared, mutation) => ({ last: prepared.data.i, mutation: mutation.status }),
    },
  },
};`

/**
 * `thread`: the engine's default runner (one sandbox thread, 3 ready instances). `calling`: evaluations on the
 * worker's own thread with 3 ready instances, refilled while it waits (`sandboxThreads: 0, sandboxPool: 3`), for a
 * process that runs one session at a time next to other worker processes.
 */
export type SandboxPlacement = 'thread' | 'calling'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A mutation tool that waits `delayMs` (an outside API call; 0: returns at once). */
export function applyTool(delayMs: number): Tool {
  return defineTool({
    namespace: 'Bench',
    name: 'apply',
    kind: 'mutation',
    description: 'Stands for one external side effect that takes a while.',
    input: z.object({ i: z.number() }),
    async execute(input) {
      if (delayMs > 0) await sleep(delayMs)
      return { ok: input.i }
    },
  })
}

/** Publishes `count` events `m0..` to a workflow's `items` topic, in batches (not timed), created at `now` (default: the call's time). */
export async function publishItems(db: LedgerflowDb, { workflowId, count, now = Date.now() }: { workflowId: string; count: number; now?: number }): Promise<void> {
  for (let from = 0; from < count; from += 500) {
    const batch = Array.from({ length: Math.min(500, count - from) }, (_, k) => from + k).map((i) => ({
      id: `${workflowId}-e${i}`,
      topic: 'items',
      messageId: `m${i}`,
      title: `Item ${i}`,
      payload: JSON.stringify({ i }),
      createdByRunId: null,
    }))
    await db.events.publish(workflowId, batch, now)
  }
}

/** Events of the schema in `consumed`. */
export async function consumedCount(db: LedgerflowDb): Promise<number> {
  const row = await db.kysely.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'consumed').executeTakeFirst()
  return Number(row?.n ?? 0)
}
