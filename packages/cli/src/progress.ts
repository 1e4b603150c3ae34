/**
 * Live progress of sessions from engine events: one line per finished run, an in-place status line on a terminal,
 * and the totals for a summary. It only listens; it never changes what the engine does.
 */
import type { EngineEmitter, SessionResult } from '@ledgerflow/agent'
import type { CliIo } from './io.js'
import { duration, money, shortId } from './format/values.js'

/** Totals of what the sessions did while progress was attached. */
export interface ProgressTotals {
  runs: { producer: number; consumer: number }
  runStatus: Record<string, number>
  published: number
  duplicates: number
  mutations: Record<string, number>
  tools: Record<string, number>
  dead: number
}

interface RunInfo {
  type: string
  name: string
  started: number
  mutation?: string
  published: number
  duplicates: number
}

const MARK: Record<string, string> = { committed: '✓', failed: '✗', paused: '‖', waiting: '…' }

/** Attaches to `events`, writing progress for `workflowId` (every workflow when omitted) to `io.err`. */
export function attachProgress(events: EngineEmitter, io: CliIo, workflowId?: string) {
  const totals: ProgressTotals = { runs: { producer: 0, consumer: 0 }, runStatus: {}, published: 0, duplicates: 0, mutations: {}, tools: {}, dead: 0 }
  const runs = new Map<string, RunInfo>()
  let statusLine = ''
  const mine = (id: string) => workflowId === undefined || id === workflowId
  const clear = () => {
    if (io.interactive && statusLine) io.err('\r\x1b[K')
  }
  const draw = () => {
    if (!io.interactive) return
    const n = totals.runs.producer + totals.runs.consumer
    statusLine = `  ${n} runs · ${totals.published} events published · ${totals.mutations.applied ?? 0} mutations applied`
    io.err(`\r\x1b[K${statusLine}`)
  }
  const print = (line: string) => {
    clear()
    io.err(`${line}\n`)
    draw()
  }
  const offs = [
    events.on('session:start', (e) => {
      if (mine(e.workflowId)) print(`${e.trigger} session ${shortId(e.sessionId)} of ${e.workflowId}`)
    }),
    events.on('run:start', (e) => {
      if (!mine(e.workflowId)) return
      totals.runs[e.handlerType]++
      runs.set(e.runId, { type: e.handlerType, name: e.handlerName, started: Date.now(), published: 0, duplicates: 0 })
      draw()
    }),
    events.on('event:published', (e) => {
      if (!mine(e.workflowId)) return
      totals.published++
      const run = e.runId ? runs.get(e.runId) : undefined
      if (run) run.published++
      draw()
    }),
    events.on('event:duplicate', (e) => {
      if (!mine(e.workflowId)) return
      totals.duplicates++
      const run = e.runId ? runs.get(e.runId) : undefined
      if (run) run.duplicates++
    }),
    events.on('event:dead', (e) => {
      if (mine(e.workflowId)) totals.dead += e.count
    }),
    events.on('tool:call', (e) => {
      if (mine(e.workflowId)) totals.tools[e.tool] = (totals.tools[e.tool] ?? 0) + 1
    }),
    ...(['mutation:applied', 'mutation:failed', 'mutation:indeterminate'] as const).map((name) =>
      events.on(name, (e) => {
        if (!mine(e.workflowId)) return
        const status = name.slice('mutation:'.length)
        totals.mutations[status] = (totals.mutations[status] ?? 0) + 1
        const run = runs.get(e.runId)
        if (run) run.mutation = `${e.tool} ${status}`
        draw()
      }),
    ),
    events.on('run:end', (e) => {
      if (!mine(e.workflowId)) return
      totals.runStatus[e.status] = (totals.runStatus[e.status] ?? 0) + 1
      const run = runs.get(e.runId)
      const what = run ? `${run.type} ${run.name}` : 'run'
      const notes = [
        run?.mutation,
        run && run.published > 0 ? `${run.published} published` : undefined,
        run && run.duplicates > 0 ? `${run.duplicates} duplicate${run.duplicates === 1 ? '' : 's'} ignored` : undefined,
        e.error ? `${e.errorType ?? 'error'}: ${e.error}` : undefined,
      ].filter(Boolean)
      const time = run ? duration(Date.now() - run.started) : ''
      print(`  ${MARK[e.status] ?? '·'} ${shortId(e.runId).padEnd(12)} ${what.padEnd(28)} ${e.status.padEnd(9)} ${time.padStart(7)}  ${notes.join(' · ')}`.trimEnd())
    }),
  ]
  return {
    totals,
    /** Writes a line without disturbing the status line. */
    print,
    dispose() {
      for (const off of offs) off()
      clear()
      statusLine = ''
    },
  }
}

/** The lines of a session summary. Pure. */
export function summaryLines(result: SessionResult, totals: ProgressTotals, info: { cost: number; ms: number }): string[] {
  const runs = totals.runs.producer + totals.runs.consumer
  const mutations = Object.entries(totals.mutations).map(([k, v]) => `${v} ${k}`)
  const tools = Object.entries(totals.tools)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ×${v}`)
  const lines = [
    `session ${shortId(result.sessionId)} ${result.status} in ${duration(info.ms)}${result.budgetExhausted ? ` (budget exhausted: ${result.budgetExhausted})` : ''}`,
    `  runs:      ${runs} (${totals.runs.producer} producer, ${totals.runs.consumer} consumer)`,
    `  events:    ${totals.published} published, ${totals.duplicates} duplicate${totals.duplicates === 1 ? '' : 's'} ignored${totals.dead ? `, ${totals.dead} dead` : ''}`,
    `  mutations: ${mutations.length ? mutations.join(', ') : 'none'}`,
    `  cost:      ${money(info.cost)}`,
  ]
  if (tools.length) lines.push(`  tools:     ${tools.join(', ')}`)
  if (result.error) lines.push(`  failure:   ${result.errorType ?? 'error'}: ${result.error}`)
  if (result.reason) lines.push(`  reason:    ${result.reason}`)
  return lines
}
