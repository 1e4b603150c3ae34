/** The PostgreSQL rows of the summary: scaling ratios, ledgerflow ÷ DBOS, statements and CPU per unit. */
import type { Figure, RunResults } from '../report.js'
import { median, round } from '../lib/stats.js'

function values(results: RunResults, key: string, metric: string): number[] {
  return (results[key] ?? []).map((r) => r[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
}

/** The figures of the PostgreSQL jobs that ran (none when the section did not). */
export function postgresFigures(results: RunResults): Figure[] {
  const out: Figure[] = []
  const m = (key: string, metric: string) => median(values(results, key, metric))
  const add = (f: Omit<Figure, 'median' | 'min' | 'max' | 'ratio'> & { key: string; metric: string }) => {
    const v = values(results, f.key, f.metric)
    if (v.length === 0) return
    const med = median(v)
    const { key: _k, metric: _m, ...rest } = f
    out.push({ ...rest, median: round(med, 3), min: round(Math.min(...v), 3), max: round(Math.max(...v), 3), baseline: round(f.baseline, 3), ratio: round(med / f.baseline, 2) })
  }
  const one = m('postgres.scale.1', 'eventsPerSec')
  for (const workers of [1, 2, 4]) {
    add({
      section: 'postgres',
      key: `postgres.scale.${workers}`,
      metric: 'eventsPerSec',
      label: `events/s, ${workers} worker process${workers > 1 ? 'es' : ''} (1 session each), 20 ms tool`,
      unit: 'ev/s',
      baselineLabel: '1 worker process',
      baseline: one,
      ratioLabel: 'x 1 worker',
      ...(workers === 4 ? { target: '>= 3.5', met: m('postgres.scale.4', 'eventsPerSec') / one >= 3.5 } : {}),
    })
  }
  add({ section: 'postgres', key: 'postgres.scale.4', metric: 'cpuBoundEventsPerSec', label: 'CPU ceiling: cores / CPU ms per event, 4 workers', unit: 'ev/s', baselineLabel: '1 worker process', baseline: one, ratioLabel: 'x 1 worker (best possible)' })
  add({ section: 'postgres', key: 'postgres.scale.4', metric: 'workerCpuMsPerEvent', label: 'worker CPU per event, 4 workers', unit: 'ms', baselineLabel: 'server CPU per event', baseline: m('postgres.scale.4', 'serverCpuMsPerEvent'), ratioLabel: 'worker / server' })
  add({ section: 'postgres', key: 'postgres.scale.4', metric: 'machineBusy', label: 'machine busy (all tenants), 4 workers', unit: '', baselineLabel: 'with 1 worker', baseline: m('postgres.scale.1', 'machineBusy'), ratioLabel: '4 / 1' })
  const several = m('postgres.scale.c4.1', 'eventsPerSec')
  for (const workers of [1, 4]) {
    add({
      section: 'postgres',
      key: `postgres.scale.c4.${workers}`,
      metric: 'eventsPerSec',
      label: `events/s, ${workers} worker process${workers > 1 ? 'es' : ''} (4 sessions each, CPU-bound here), 20 ms tool`,
      unit: 'ev/s',
      baselineLabel: '1 worker process, 4 sessions',
      baseline: several,
      ratioLabel: 'x 1 worker',
    })
  }
  for (const c of [1, 8]) {
    const dbos = m(`postgres.dbos.c${c}`, 'workflowsPerSec')
    const label = c === 1 ? 'one at a time' : `${c} at a time`
    add({ section: 'postgres', key: `postgres.ledgerflow.c${c}`, metric: 'eventsPerSec', label: `consumer runs/s (= events/s), ${label}`, unit: 'ev/s', baselineLabel: `DBOS 3-step workflows/s, ${label}`, baseline: dbos, ratioLabel: 'ledgerflow / DBOS', target: '>= 1.0', met: m(`postgres.ledgerflow.c${c}`, 'eventsPerSec') / dbos >= 1 })
    add({ section: 'postgres', key: `postgres.ledgerflow.c${c}`, metric: 'statementsPerRun', label: `statements (round trips) per consumer run, ${label}`, unit: '', baselineLabel: 'per DBOS workflow', baseline: m(`postgres.dbos.c${c}`, 'statementsPerWorkflow'), ratioLabel: 'ledgerflow / DBOS' })
    const cpu = (key: string, node: string, server: string) => m(key, node) + m(key, server)
    add({ section: 'postgres', key: `postgres.ledgerflow.c${c}`, metric: 'nodeCpuMsPerRun', label: `node CPU per consumer run, ${label}`, unit: 'ms', baselineLabel: 'node + server CPU, DBOS wf', baseline: cpu(`postgres.dbos.c${c}`, 'nodeCpuMsPerWorkflow', 'serverCpuMsPerWorkflow'), ratioLabel: 'of DBOS total' })
  }
  add({ section: 'postgres', key: 'postgres.ledgerflow.c1', metric: 'transactionsPerRun', label: 'transactions per consumer run', unit: '', baselineLabel: 'statements per run', baseline: m('postgres.ledgerflow.c1', 'statementsPerRun'), ratioLabel: 'of statements' })
  return out.map((f) => ({ ...f, ratio: round(f.ratio, 2) }))
}
