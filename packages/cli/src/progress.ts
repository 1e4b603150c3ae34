/**
 * Live progress of sessions from engine events: one line per finished run, an in-place status line on a terminal,
 * and the totals for a summary. It only listens; it never changes what the engine does.
 */
import type { EngineEmitter, EngineEventMap, SessionResult } from '@ledgerflow/agent'
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
  const display = statusDisplay(io, totals)
  const tally: Tally = { totals, runs: new Map(), mine: (id) => workflowId === undefined || id === workflowId, display }
  const offs = [...listenToEvents(events, tally), ...listenToMutations(events, tally), ...listenToRuns(events, tally)]
  return {
    totals,
    /** Writes a line without disturbing the status line. */
    print: display.print,
    dispose() {
      for (const off of offs) off()
      display.clear()
    },
  }
}

/** What the listeners of {@link attachProgress} share: the totals, the runs under way, the filter and the display. */
interface Tally {
  totals: ProgressTotals
  runs: Map<string, RunInfo>
  /** Whether an event of this workflow is reported. */
  mine: (workflowId: string) => boolean
  display: StatusDisplay
}

/** The in-place status line (on a terminal only) and the lines written above it. */
interface StatusDisplay {
  /** Writes a line above the status line. */
  print(line: string): void
  /** Redraws the status line from the totals. */
  draw(): void
  /** Erases the status line. */
  clear(): void
}

function statusDisplay(io: CliIo, totals: ProgressTotals): StatusDisplay {
  let statusLine = ''
  const erase = () => {
    if (io.interactive && statusLine) io.err('\r\x1b[K')
  }
  const draw = () => {
    if (!io.interactive) return
    const n = totals.runs.producer + totals.runs.consumer
    statusLine = `  ${n} runs · ${totals.published} events published · ${totals.mutations.applied ?? 0} mutations applied`
    io.err(`\r\x1b[K${statusLine}`)
  }
  return {
    print(line) {
      erase()
      io.err(`${line}\n`)
      draw()
    },
    draw,
    clear() {
      erase()
      statusLine = ''
    },
  }
}

/** Listens for sessions starting, runs starting, events published, duplicate and dead, and tool calls. */
function listenToEvents(events: EngineEmitter, { totals, runs, mine, display }: Tally) {
  return [
    events.on('session:start', (e) => {
      if (mine(e.workflowId)) display.print(`${e.trigger} session ${shortId(e.sessionId)} of ${e.workflowId}`)
    }),
    events.on('run:start', (e) => {
      if (!mine(e.workflowId)) return
      totals.runs[e.handlerType]++
      runs.set(e.runId, { type: e.handlerType, name: e.handlerName, started: Date.now(), published: 0, duplicates: 0 })
      display.draw()
    }),
    events.on('event:published', (e) => {
      if (!mine(e.workflowId)) return
      totals.published++
      const run = e.runId ? runs.get(e.runId) : undefined
      if (run) run.published++
      display.draw()
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
  ]
}

/** Listens for mutations applied, failed and indeterminate. */
function listenToMutations(events: EngineEmitter, { totals, runs, mine, display }: Tally) {
  return (['mutation:applied', 'mutation:failed', 'mutation:indeterminate'] as const).map((name) =>
    events.on(name, (e) => {
      if (!mine(e.workflowId)) return
      const status = name.slice('mutation:'.length)
      totals.mutations[status] = (totals.mutations[status] ?? 0) + 1
      const run = runs.get(e.runId)
      if (run) run.mutation = `${e.tool} ${status}`
      display.draw()
    }),
  )
}

/** Listens for runs ending: one line per finished run. */
function listenToRuns(events: EngineEmitter, { totals, runs, mine, display }: Tally) {
  return [
    events.on('run:end', (e) => {
      if (!mine(e.workflowId)) return
      totals.runStatus[e.status] = (totals.runStatus[e.status] ?? 0) + 1
      display.print(runLine(e, runs.get(e.runId)))
    }),
  ]
}

/** The line of a finished run. Pure but for the clock (the run's duration). */
function runLine(e: EngineEventMap['run:end'], run: RunInfo | undefined): string {
  const what = run ? `${run.type} ${run.name}` : 'run'
  const notes = [
    run?.mutation,
    run && run.published > 0 ? `${run.published} published` : undefined,
    run && run.duplicates > 0 ? `${run.duplicates} duplicate${run.duplicates === 1 ? '' : 's'} ignored` : undefined,
    e.error ? `${e.errorType ?? 'error'}: ${e.error}` : undefined,
  ].filter(Boolean)
  const time = run ? duration(Date.now() - run.started) : ''
  return `  ${MARK[e.status] ?? '·'} ${shortId(e.runId).padEnd(12)} ${what.padEnd(28)} ${e.status.padEnd(9)} ${time.padStart(7)}  ${notes.join(' · ')}`.trimEnd()
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
