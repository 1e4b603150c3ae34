/** The summary: figures (median over runs, with a same-run baseline and the ratio) and the one table. */
import { median, round } from './lib/stats.js'
import { postgresFigures } from './postgres/report.js'

/** Results per job key: one record per run. */
export type RunResults = Record<string, Array<Record<string, number>>>

/** One row of the summary. */
export interface Figure {
  section: string
  label: string
  unit: string
  median: number
  min: number
  max: number
  baselineLabel: string
  baseline: number
  /** median ÷ baseline (or as `ratioLabel` says). */
  ratio: number
  ratioLabel: string
  target?: string
  met?: boolean
}

/** Anchor (keep.ai @ 856d718) on this machine, events/s: an external reference, not measured in this run. */
export const ANCHOR_EVENTS_PER_SEC = { low: 57, high: 79 }

type Medians = (key: string, metric: string) => number

function values(results: RunResults, key: string, metric: string): number[] {
  return (results[key] ?? []).map((r) => r[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
}

/** Builds the figures from every run's results (sections without results are left out). */
export function figures(results: RunResults): Figure[] {
  const m: Medians = (key, metric) => median(values(results, key, metric))
  const out: Figure[] = []
  const add = (f: Omit<Figure, 'median' | 'min' | 'max' | 'ratio'> & { key: string; metric: string; value?: number; ratio?: number }) => {
    const v = values(results, f.key, f.metric)
    const med = f.value ?? median(v)
    if (!Number.isFinite(med)) return
    // A baseline from a section that was not run (--only) leaves the ratio empty.
    const ratio = f.ratio ?? med / f.baseline
    const { key: _k, metric: _m, value: _v, ...rest } = f
    out.push({ ...rest, median: round(med, 3), min: round(Math.min(...v), 3), max: round(Math.max(...v), 3), baseline: round(f.baseline, 3), ratio: round(ratio, 2) })
  }
  for (const sync of ['FULL', 'NORMAL'] as const) {
    const floorCost = m(`floor.${sync}`, 'msPerEvent') + m('bare', 'sum')
    const engine = m(`pipeline.${sync}`, 'msPerEvent')
    add({ section: 'pipeline', key: `pipeline.${sync}`, metric: 'msPerEvent', label: `engine ms/event, ${sync}`, unit: 'ms', baselineLabel: 'floor + 3 x bare eval', baseline: floorCost, ratioLabel: 'engine / floor', ...(sync === 'FULL' ? { target: '<= 1.25', met: engine / floorCost <= 1.25 } : {}) })
    add({ section: 'pipeline', key: `pipeline.${sync}`, metric: 'eventsPerSec', label: `events/s, ${sync}`, unit: 'ev/s', baselineLabel: 'floor events/s', baseline: 1000 / floorCost, ratioLabel: 'of floor' })
    add({ section: 'pipeline', key: `pipeline.${sync}`, metric: 'p50', label: `per-event p50, ${sync}`, unit: 'ms', baselineLabel: 'floor + 3 x bare eval', baseline: floorCost, ratioLabel: 'engine / floor' })
    add({ section: 'pipeline', key: `pipeline.${sync}`, metric: 'p99', label: `per-event p99, ${sync}`, unit: 'ms', baselineLabel: 'per-event p50', baseline: m(`pipeline.${sync}`, 'p50'), ratioLabel: 'p99 / p50' })
  }
  const full = m('pipeline.FULL', 'eventsPerSec')
  add({ section: 'pipeline', key: 'pipeline.FULL', metric: 'eventsPerSec', label: 'events/s, FULL, vs anchor (reference)', unit: 'ev/s', baselineLabel: `anchor ${ANCHOR_EVENTS_PER_SEC.low}-${ANCHOR_EVENTS_PER_SEC.high} (not this run)`, baseline: ANCHOR_EVENTS_PER_SEC.high, ratioLabel: 'x anchor (high)', target: '>= 4', met: full / ANCHOR_EVENTS_PER_SEC.high >= 4 })
  add({ section: 'pipeline', key: 'pipeline.recycle.FULL', metric: 'eventsPerSec', label: 'events/s, FULL, recycled instances (opt-in)', unit: 'ev/s', baselineLabel: 'events/s, FULL', baseline: full, ratioLabel: 'recycled / new' })
  add({ section: 'pipeline', key: 'pipeline.recycle.FULL', metric: 'msPerEvent', label: 'engine ms/event, FULL, recycled instances (opt-in)', unit: 'ms', baselineLabel: 'floor + 3 x bare eval', baseline: m('floor.FULL', 'msPerEvent') + m('bare', 'sum'), ratioLabel: 'engine / floor' })
  add({ section: 'pipeline', key: 'pipeline.recycle.FULL', metric: 'cpuMsPerEvent', label: 'CPU ms/event, FULL, recycled instances (opt-in)', unit: 'ms', baselineLabel: 'CPU ms/event, FULL', baseline: m('pipeline.FULL', 'cpuMsPerEvent'), ratioLabel: 'recycled / new' })
  add({ section: 'pipeline', key: 'pipeline.warm.FULL', metric: 'msPerEvent', label: 'engine ms/event, FULL, warm engine (steady state)', unit: 'ms', baselineLabel: 'floor + 3 x bare eval', baseline: m('floor.FULL', 'msPerEvent') + m('bare', 'sum'), ratioLabel: 'engine / floor' })
  add({ section: 'pipeline', key: 'pipeline.FULL', metric: 'msPerEvent', label: 'engine ms/event, FULL, against bare evaluations on the sandbox thread', unit: 'ms', baselineLabel: 'floor + 3 x bare eval (thread)', baseline: m('floor.FULL', 'msPerEvent') + m('bare', 'sumThread'), ratioLabel: 'engine / floor' })
  add({ section: 'pipeline', key: 'pipeline.warm.FULL', metric: 'eventsPerSec', label: 'events/s, FULL, warm engine (steady state)', unit: 'ev/s', baselineLabel: 'events/s, FULL', baseline: full, ratioLabel: 'warm / fresh engine' })
  add({ section: 'pipeline', key: 'pipeline.warm.FULL', metric: 'cpuMsPerEvent', label: 'CPU ms/event, FULL, warm engine (steady state)', unit: 'ms', baselineLabel: 'CPU ms/event, FULL', baseline: m('pipeline.FULL', 'cpuMsPerEvent'), ratioLabel: 'warm / fresh engine' })
  add({ section: 'pipeline', key: 'pipeline.tool.FULL', metric: 'msPerEvent', label: 'engine ms/event, FULL, no-op mutation tool', unit: 'ms', baselineLabel: 'engine ms/event, FULL', baseline: m('pipeline.FULL', 'msPerEvent'), ratioLabel: 'with / without tool' })
  for (const sync of ['FULL', 'NORMAL'] as const) {
    add({ section: 'floor', key: `floor.${sync}`, metric: 'msPerEvent', label: `floor: raw commits per event, ${sync}`, unit: 'ms', baselineLabel: 'floor, NORMAL', baseline: m('floor.NORMAL', 'msPerEvent'), ratioLabel: `${sync} / NORMAL` })
  }
  add({ section: 'floor', key: 'bare', metric: 'sum', label: 'bare evaluations: prepare + mutate + next', unit: 'ms', baselineLabel: 'same phases, plain Node', baseline: m('bare', 'plainSum'), ratioLabel: 'sandbox / plain' })
  add({ section: 'floor', key: 'bare', metric: 'sumThread', label: 'bare evaluations on the sandbox thread alone (sandboxCallerPool 0)', unit: 'ms', baselineLabel: 'bare evaluations', baseline: m('bare', 'sum'), ratioLabel: 'thread / engine runner' })
  add({ section: 'phases', key: 'sandbox', metric: 'engine', label: 'sandbox eval, 200-line script, engine runner', unit: 'ms', baselineLabel: 'plain Node', baseline: m('sandbox', 'plain-node'), ratioLabel: 'sandbox / plain', target: '<= 1.5 ms', met: m('sandbox', 'engine') <= 1.5 })
  add({ section: 'phases', key: 'sandbox', metric: 'engine-recycle', label: 'sandbox eval, 200-line script, engine runner, recycled instances (opt-in)', unit: 'ms', baselineLabel: 'plain Node', baseline: m('sandbox', 'plain-node'), ratioLabel: 'sandbox / plain', target: '<= 1.5 ms', met: m('sandbox', 'engine-recycle') <= 1.5 })
  add({ section: 'phases', key: 'sandbox', metric: 'engine-calling', label: 'sandbox eval, 200-line script, engine on the calling thread (sandboxThreads 0, sandboxPool 3)', unit: 'ms', baselineLabel: 'plain Node', baseline: m('sandbox', 'plain-node'), ratioLabel: 'sandbox / plain', target: '<= 1.5 ms', met: m('sandbox', 'engine-calling') <= 1.5 })
  add({ section: 'phases', key: 'sandbox', metric: 'engine-thread', label: 'sandbox eval, 200-line script, engine runner on the sandbox thread alone (sandboxCallerPool 0)', unit: 'ms', baselineLabel: 'plain Node', baseline: m('sandbox', 'plain-node'), ratioLabel: 'sandbox / plain' })
  add({ section: 'phases', key: 'sandbox', metric: 'sandbox', label: 'sandbox eval, 200-line script, no pool', unit: 'ms', baselineLabel: 'plain Node', baseline: m('sandbox', 'plain-node'), ratioLabel: 'sandbox / plain' })
  add({ section: 'phases', key: 'bare', metric: 'prepare', label: 'sandbox eval, pipeline prepare (engine runner)', unit: 'ms', baselineLabel: 'plain Node, 3 phases / 3', baseline: m('bare', 'plainSum') / 3, ratioLabel: 'sandbox / plain' })
  add({ section: 'phases', key: 'checkpoint.FULL', metric: 'storeMs', label: 'DB transaction per checkpoint, FULL', unit: 'ms', baselineLabel: 'same statements, raw', baseline: m('checkpoint.FULL', 'rawMs'), ratioLabel: 'stores / raw' })
  add({ section: 'phases', key: 'checkpoint.OFF', metric: 'storeMs', label: 'DB transaction per checkpoint, no fsync', unit: 'ms', baselineLabel: 'same statements, raw', baseline: m('checkpoint.OFF', 'rawMs'), ratioLabel: 'stores / raw' })
  add({ section: 'phases', key: 'checkpoint.OFF', metric: 'overheadUsPerStatement', label: 'store layer (kysely) overhead per statement', unit: 'us', baselineLabel: 'raw tx, no fsync (us)', baseline: m('checkpoint.OFF', 'rawMs') * 1000, ratioLabel: 'of raw tx' })
  add({ section: 'scaling', key: 'history.1m', metric: 'consumerMsPerEvent', label: 'ms/event with 1M events in the DB (NORMAL)', unit: 'ms', baselineLabel: 'with 1k events', baseline: m('history.1k', 'consumerMsPerEvent'), ratioLabel: '1M / 1k', target: '<= 1.2', met: m('history.1m', 'consumerMsPerEvent') / m('history.1k', 'consumerMsPerEvent') <= 1.2 })
  add({ section: 'scaling', key: 'workflows.100', metric: 'msPerEvent', label: 'ms/event with 100 workflows (worker)', unit: 'ms', baselineLabel: 'with 1 workflow', baseline: m('workflows.1', 'msPerEvent'), ratioLabel: '100 / 1' })
  add({ section: 'latency', key: 'latency', metric: 'p50', label: 'publish -> consumer commit, p50', unit: 'ms', baselineLabel: 'per-event p50, FULL', baseline: m('pipeline.FULL', 'p50'), ratioLabel: 'latency / event' })
  add({ section: 'latency', key: 'latency', metric: 'p99', label: 'publish -> consumer commit, p99', unit: 'ms', baselineLabel: 'latency p50', baseline: m('latency', 'p50'), ratioLabel: 'p99 / p50' })
  const sessions = m('recovery', 'sessions')
  add({ section: 'recovery', key: 'recovery', metric: 'totalMs', label: `resume ${sessions} open sessions`, unit: 'ms', baselineLabel: `${sessions} x engine ms/event`, baseline: sessions * m('pipeline.FULL', 'msPerEvent'), ratioLabel: 'recovery / events' })
  add({ section: 'recovery', key: 'recovery', metric: 'msPerSession', label: 'resume one open session', unit: 'ms', baselineLabel: 'engine ms/event, FULL', baseline: m('pipeline.FULL', 'msPerEvent'), ratioLabel: 'session / event' })
  out.push(...postgresFigures(results))
  return out
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2))

/** The one summary table, as text. */
export function table(rows: readonly Figure[], breakdown: Record<string, number> | undefined, runs: number): string {
  const header = ['section', 'figure', `median of ${runs}`, 'min-max', 'baseline (same run)', 'baseline', 'ratio', 'target']
  const lines: string[][] = [header]
  for (const f of rows) {
    lines.push([
      f.section,
      f.label,
      `${fmt(f.median)} ${f.unit}`,
      `${fmt(f.min)}-${fmt(f.max)}`,
      f.baselineLabel,
      fmt(f.baseline),
      Number.isFinite(f.ratio) ? `${f.ratio.toFixed(2)} ${f.ratioLabel}` : '-',
      f.target === undefined || !Number.isFinite(f.ratio) ? (f.target ?? '') : `${f.target} ${f.met ? 'MET' : 'NOT MET'}`,
    ])
  }
  if (breakdown) {
    const total = breakdown.totalMs ?? Number.NaN
    const part = (name: string, label: string) => {
      const v = breakdown[name] ?? Number.NaN
      lines.push(['breakdown', label, `${fmt(v)} ms`, '', 'ms per event (profile run)', fmt(total), `${(v / total).toFixed(2)} of event`, ''])
    }
    part('sandboxMs', 'waiting for sandbox evaluations (3 per event)')
    part('hostMs', 'tool calls inside evaluations')
    part('transactionMs', 'write transactions, without COMMIT')
    part('commitMs', `COMMIT (fsync), ${fmt(breakdown.commitsPerEvent ?? Number.NaN)} per event`)
    part('otherMs', `reads and engine code (${fmt(breakdown.statementsPerEvent ?? Number.NaN)} statements/event)`)
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)))
  const render = (l: string[]) => l.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd()
  return [render(lines[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.slice(1).map(render)].join('\n')
}
