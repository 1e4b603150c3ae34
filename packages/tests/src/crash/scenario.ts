/**
 * The crash campaign's scenario: several workflows on one SQLite file, each with a producer (a read tool with
 * transient failures), two consumers competing for one topic and making a mutation (`Out.send`), a downstream
 * consumer making another (`Audit.record`), and a consumer without a mutation. Mutations go to durable effect logs
 * outside the engine's database, which `reconcile` reads like an outside API. Tool outcomes (transient errors,
 * lost answers, auth failures, outcomes reconciliation cannot tell) are functions of the seed and the idempotency
 * key, so a trial replays exactly.
 */
import { join } from 'node:path'
import { NetworkError, type Tool, defineTool } from '@ledgerflow/agent'
import type { LedgerflowDb } from '@ledgerflow/db'
import { z } from 'zod'
import { type FileEffectLog, fileEffectLog } from '../kit/effect-log.js'
import { type RecordingTool, type ToolOutcome, recordingTool } from '../kit/recording-tool.js'
import { unit } from './prng.js'

/** Size of the scenario. */
export interface ScenarioSize {
  /** Workflows on the file. */
  workflows: number
  /** Items each workflow's producer publishes in total. */
  items: number
  /** Items per producer run. */
  batch: number
}

/** The default size (tuned so a full run is a few hundred crash-point hits). */
export const DEFAULT_SIZE: ScenarioSize = Object.freeze({ workflows: 3, items: 6, batch: 3 })

/** Names of the scenario's mutation tools and their effect-log files. */
export const EFFECT_FILES = { 'Out.send': 'out-send.jsonl', 'Audit.record': 'audit-record.jsonl' } as const

/** Workflow ids of a scenario. */
export function workflowIds(size: ScenarioSize): string[] {
  return Array.from({ length: size.workflows }, (_, i) => `wf${i + 1}`)
}

/** The script of one workflow; `interval` is the producer's schedule (a worker-driven trial uses a short one). */
export function scenarioScript(workflowId: string, size: ScenarioSize, interval = '1h'): string {
  return `const TOTAL = ${size.items}
const BATCH = ${size.batch}
const WF = ${JSON.stringify(workflowId)}
const workflow = {
  topics: { items: {}, sent: {}, notes: {} },
  producers: {
    gen: {
      schedule: { interval: ${JSON.stringify(interval)} },
      publishes: ["items", "notes"],
      handler: async (state) => {
        const n = (state && state.n) || 0
        if (n >= TOTAL) return undefined
        const feed = await In.fetch({ workflow: WF, n })
        const k = Math.min(BATCH, TOTAL - n)
        for (let i = 0; i < k; i++) {
          await Topics.publish({ topic: "items", event: { messageId: "item-" + (n + i), title: "item " + (n + i), payload: { i: n + i } } })
        }
        await Topics.publish({ topic: "notes", event: { messageId: "note-" + n, payload: { n, feed: feed.value } } })
        return { n: n + k }
      },
    },
  },
  consumers: {
    send: {
      subscribe: ["items"],
      publishes: ["sent"],
      prepare: async (state) => {
        const events = await Topics.peek({ topic: "items", limit: 2 })
        if (events.length === 0) return { reservations: [] }
        const ids = events.map((e) => e.messageId)
        return { reservations: [{ topic: "items", ids }], data: { ids, count: (state && state.count) || 0 }, ui: { title: "send " + ids.join(" ") } }
      },
      mutate: async (p) => { await Out.send({ workflow: WF, ids: p.data.ids }) },
      next: async (p, r) => {
        if (!p.data) return undefined
        for (const id of p.data.ids) {
          await Topics.publish({ topic: "sent", event: { messageId: "sent-" + id, payload: { id, via: "send", status: r.status } } })
        }
        return { count: p.data.count + p.data.ids.length }
      },
    },
    express: {
      subscribe: ["items"],
      publishes: ["sent"],
      prepare: async (state) => {
        const events = (await Topics.peek({ topic: "items", limit: 10 })).filter((e) => e.payload.i % 3 === 2)
        if (events.length === 0) return { reservations: [] }
        const ids = [events[0].messageId]
        return { reservations: [{ topic: "items", ids }], data: { ids, count: (state && state.count) || 0 } }
      },
      mutate: async (p) => { await Out.send({ workflow: WF, ids: p.data.ids, express: true }) },
      next: async (p, r) => {
        if (!p.data) return undefined
        await Topics.publish({ topic: "sent", event: { messageId: "sent-" + p.data.ids[0], payload: { id: p.data.ids[0], via: "express", status: r.status } } })
        return { count: p.data.count + 1 }
      },
    },
    audit: {
      subscribe: ["sent"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "sent", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "sent", ids: [e.messageId] }], data: { id: e.payload.id, count: (state && state.count) || 0 } }
      },
      mutate: async (p) => { await Audit.record({ workflow: WF, id: p.data.id }) },
      next: async (p) => (p.data ? { count: p.data.count + 1 } : undefined),
    },
    tally: {
      subscribe: ["notes"],
      prepare: async (state) => {
        const events = await Topics.peek({ topic: "notes", limit: 3 })
        if (events.length === 0) return { reservations: [] }
        const ids = events.map((e) => e.messageId)
        return { reservations: [{ topic: "notes", ids }], data: { ids, count: (state && state.count) || 0 } }
      },
      next: async (p) => (p.data ? { count: p.data.count + p.data.ids.length } : undefined),
    },
  },
};
`
}

/** Probabilities of scripted tool outcomes. */
export const FAULT_RATES = Object.freeze({
  /** `In.fetch` fails with a network error on a run's first attempt. */
  fetchNetwork: 0.15,
  /** A mutation applies, then its answer is lost (network): reconcile finds it applied. */
  applyThenLost: 0.08,
  /** A mutation fails with a network error before applying: reconcile finds it not applied, a new run retries. */
  networkBefore: 0.06,
  /** A mutation fails with a network error the tool knows did not apply (definite). */
  networkNotApplied: 0.04,
  /** A mutation fails with an auth error (not applied): the workflow pauses until an operator resumes it. */
  auth: 0.03,
  /** Reconciliation of a key answers `unknown`: the mutation ends indeterminate and an operator resolves it. */
  reconcileUnknown: 0.25,
})

/** The scenario's tools in one process. */
export interface ScenarioTools {
  tools: Tool[]
  send: RecordingTool
  audit: RecordingTool
  logs: FileEffectLog[]
  close(): void
}

/** Options of {@link scenarioTools}. */
export interface ScenarioToolsOptions {
  dir: string
  seed: number
  db: LedgerflowDb
  /** Called right after an effect is durably applied (a crash point of the campaign). */
  onEffect?: (key: string) => void
  /** No scripted failure at all (the campaign's discovery of the crash points every run passes). */
  faultFree?: boolean
}

function mutationOutcome(seed: number, key: string): ToolOutcome | undefined {
  const x = unit(seed, 'mutation', key)
  const r = FAULT_RATES
  if (x < r.applyThenLost) return { applyThenError: 'network' }
  if (x < r.applyThenLost + r.networkBefore) return { error: 'network' }
  if (x < r.applyThenLost + r.networkBefore + r.networkNotApplied) return { error: 'network', notApplied: true }
  if (x < r.applyThenLost + r.networkBefore + r.networkNotApplied + r.auth) return { error: 'auth', notApplied: true }
  return undefined
}

/** Creates the scenario's tools, with effect logs in `dir`. */
export function scenarioTools(options: ScenarioToolsOptions): ScenarioTools {
  const { seed, db } = options
  const mutation = (namespace: string, name: string, file: string, input: z.ZodType) => {
    const effects = fileEffectLog(join(options.dir, file))
    const tool = recordingTool({
      namespace,
      name,
      kind: 'mutation',
      input,
      effects,
      decide: (call) => (options.faultFree ? undefined : mutationOutcome(seed, call.idempotencyKey ?? '')),
      reconcileAnswer: (key) => (!options.faultFree && unit(seed, 'reconcile', key) < FAULT_RATES.reconcileUnknown ? 'unknown' : 'truth'),
      onEffect: options.onEffect,
    })
    return { tool, effects }
  }
  const send = mutation('Out', 'send', EFFECT_FILES['Out.send'], z.object({ workflow: z.string(), ids: z.array(z.string()).min(1), express: z.boolean().optional() }))
  const audit = mutation('Audit', 'record', EFFECT_FILES['Audit.record'], z.object({ workflow: z.string(), id: z.string() }))
  const fetch = defineTool({
    namespace: 'In',
    name: 'fetch',
    kind: 'read',
    description: 'Reads a value from the outside feed; fails transiently on some first attempts.',
    input: z.object({ workflow: z.string(), n: z.number() }),
    async execute(input, ctx) {
      const run = await db.runs.get(ctx.runId)
      if (!options.faultFree && run?.attempt === 1 && unit(seed, 'fetch', ctx.runId) < FAULT_RATES.fetchNetwork) throw new NetworkError('feed timed out')
      return { value: input.n * 10 }
    },
  })
  return {
    tools: [send.tool.tool, audit.tool.tool, fetch],
    send: send.tool,
    audit: audit.tool,
    logs: [send.effects, audit.effects],
    close() {
      send.effects.close()
      audit.effects.close()
    },
  }
}
