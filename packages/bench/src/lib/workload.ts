/**
 * The benchmark workload, the same as the anchor's pipeline: one producer publishes N events to `items`; one
 * consumer reserves one event per run in `prepare`, `mutate` calls no tool (or, in the `tool` variant, a no-op
 * mutation tool), and `next` returns a small state. Three sandbox evaluations per event.
 */
import { type Engine, type EngineOptions, type Tool, createEngine, defineTool } from '@ledgerflow/agent'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import { z } from 'zod'

/** SQLite durability settings the bench compares. */
export type Synchronous = 'FULL' | 'NORMAL'

/** A no-op mutation tool: the ledger rows are written (in_flight, then applied), the call does nothing. */
export const noopMutation: Tool = defineTool({
  namespace: 'Bench',
  name: 'noop',
  kind: 'mutation',
  description: 'Does nothing; stands for an external side effect.',
  input: z.object({ i: z.number() }),
  async execute(input) {
    return { ok: input.i }
  },
})

/** The consumer of the pipeline, as script source. `useTool`: mutate calls `Bench.noop`. */
function consumerSource(useTool: boolean): string {
  const mutate = useTool
    ? 'mutate: async (prepared) => { await Bench.noop({ i: prepared.data.i }); },'
    : 'mutate: async (prepared) => ({ done: prepared.data.i }),'
  return `proc: {
      subscribe: ["items"],
      prepare: async (state) => {
        const pending = await Topics.peek({ topic: "items", limit: 1 });
        if (pending.length === 0) return { reservations: [], data: {} };
        const ev = pending[0];
        return { reservations: [{ topic: "items", ids: [ev.messageId] }], data: { i: ev.payload.i } };
      },
      ${mutate}
      next: async (prepared, mutationResult) => ({ last: prepared.data.i, mutation: mutationResult.status }),
    },`
}

/** The anchor's workflow: a producer publishing `events` events (at most 1000 per run), and the consumer. */
export function pipelineScript(events: number, options: { useTool?: boolean } = {}): string {
  return `const workflow = {
  topics: { items: {} },
  producers: {
    gen: {
      schedule: { interval: "1d" },
      publishes: ["items"],
      handler: async (state) => {
        for (let i = 0; i < ${events}; i++) {
          await Topics.publish({ topic: "items", event: { messageId: "m" + i, title: "Item " + i, payload: { i } } });
        }
        return { published: ${events} };
      },
    },
  },
  consumers: {
    ${consumerSource(options.useTool === true)}
  },
};`
}

/** The consumer alone (events arrive through `engine.publish`). */
export function consumerOnlyScript(options: { useTool?: boolean } = {}): string {
  return `const workflow = {
  topics: { items: {} },
  consumers: {
    ${consumerSource(options.useTool === true)}
  },
};`
}

/** An open database and an engine on it. */
export interface BenchEnv {
  db: LedgerflowDb
  engine: Engine
  close(): Promise<void>
}

/** Opens (migrating) a SQLite file and creates an engine with the bench tools. */
export async function openEnv(file: string, options: { synchronous?: Synchronous; engine?: Partial<EngineOptions> } = {}): Promise<BenchEnv> {
  const db = await openDatabase({ sqlite: file, synchronous: options.synchronous ?? 'FULL' })
  const engine = createEngine({ db, tools: [noopMutation], ...options.engine })
  return {
    db,
    engine,
    async close() {
      await engine.close()
      await db.close()
    },
  }
}

/** Counts the commit timestamps of consumer runs (in order) and of every run. */
export function recordCommits(engine: Engine): { consumer: number[]; all: number[]; stop(): void } {
  const types = new Map<string, string>()
  const consumer: number[] = []
  const all: number[] = []
  const offStart = engine.on('run:start', (e) => types.set(e.runId, e.handlerType))
  const offEnd = engine.on('run:end', (e) => {
    if (e.status !== 'committed') return
    const now = performance.now()
    all.push(now)
    if (types.get(e.runId) === 'consumer') consumer.push(now)
  })
  return {
    consumer,
    all,
    stop() {
      offStart()
      offEnd()
    },
  }
}

/** Resolves once `count` consumer runs have committed (or rejects after `timeoutMs`). */
export function awaitCommits(commits: { consumer: number[] }, count: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const check = () => {
      if (commits.consumer.length >= count) return resolve()
      if (Date.now() > deadline) return reject(new Error(`only ${commits.consumer.length} of ${count} events committed in ${timeoutMs} ms`))
      setTimeout(check, 2)
    }
    check()
  })
}
