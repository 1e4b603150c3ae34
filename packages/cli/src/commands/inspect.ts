/** Listing commands: `sessions`, `runs`, `events`, `mutations`, `logs`. Each prints a table, or JSON with `--json`. */
import type { Event, EventStatus, HandlerRun, Mutation, MutationStatus, RunLog, Session } from '@ledgerflow/db'
import type { CliApp } from '../app.js'
import { resolveId } from '../format/resolve-id.js'
import { table } from '../format/table.js'
import { ago, compactJson, duration, money, shortId } from '../format/values.js'
import { EXIT, getWorkflow, jsonColumn, parseChoice, parsePositiveInt, printJson } from './shared.js'

/** Options every listing command takes. */
export interface ListOptions {
  json?: boolean
  limit?: string
}

const EVENT_STATUSES: readonly EventStatus[] = ['pending', 'reserved', 'consumed', 'skipped', 'dead']
const MUTATION_STATUSES: readonly MutationStatus[] = ['pending', 'in_flight', 'applied', 'failed', 'indeterminate', 'skipped']

/** Lists a workflow's sessions, oldest of the most recent `--limit` (default 20) first. */
export async function sessionsCommand(app: CliApp, workflowId: string, options: ListOptions = {}): Promise<number> {
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  const rows = (await db.sessions.listByWorkflow(workflowId, { limit: parsePositiveInt(options.limit, '--limit') ?? 20 })).reverse()
  if (options.json) return json(app, rows.map(sessionJson))
  const now = Date.now()
  app.io.out(
    table<Session>(rows, [
      { header: 'SESSION', value: (s) => shortId(s.id) },
      { header: 'TRIGGER', value: (s) => s.trigger },
      { header: 'STATUS', value: (s) => s.status },
      { header: 'RUNS', value: (s) => String(s.handler_run_count), align: 'right' },
      { header: 'COST', value: (s) => money(s.cost), align: 'right' },
      { header: 'STARTED', value: (s) => ago(s.start_timestamp, now) },
      { header: 'TOOK', value: (s) => (s.end_timestamp === null ? 'running' : duration(s.end_timestamp - s.start_timestamp)), align: 'right' },
      { header: 'NOTE', value: (s) => [s.budget_exhausted ? `budget: ${s.budget_exhausted}` : '', s.error ? `${s.error_type ?? 'error'}: ${s.error}` : ''].filter(Boolean).join(' · '), max: 70 },
    ], 'no sessions yet'),
  )
  return EXIT.ok
}

function sessionJson(s: Session) {
  return { ...s, producers: jsonColumn(s.producers) }
}

/** Lists runs of a workflow (most recent `--limit`, default 50) or of one session. */
export async function runsCommand(app: CliApp, workflowId: string, options: ListOptions & { session?: string } = {}): Promise<number> {
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  let rows: HandlerRun[]
  if (options.session) {
    const sessionId = await resolveId(db, 'script_runs', options.session)
    rows = (await db.runs.listBySession(sessionId)).filter((r) => r.workflow_id === workflowId)
  } else {
    rows = (await db.runs.listByWorkflow(workflowId, { limit: parsePositiveInt(options.limit, '--limit') ?? 50 })).reverse()
  }
  if (options.json) return json(app, rows.map(runJson))
  const now = Date.now()
  app.io.out(
    table<HandlerRun>(rows, [
      { header: 'RUN', value: (r) => shortId(r.id) },
      { header: 'SESSION', value: (r) => shortId(r.script_run_id) },
      { header: 'HANDLER', value: (r) => `${r.handler_type} ${r.handler_name}`, max: 32 },
      { header: 'PHASE', value: (r) => r.phase },
      { header: 'STATUS', value: (r) => r.status },
      { header: 'TRY', value: (r) => String(r.attempt), align: 'right' },
      { header: 'COST', value: (r) => money(r.cost), align: 'right' },
      { header: 'STARTED', value: (r) => ago(r.start_timestamp, now) },
      { header: 'ERROR', value: (r) => (r.error ? `${r.error_type ?? 'error'}: ${r.error}` : r.retry_at ? `retry ${ago(r.retry_at, now)}` : ''), max: 70 },
    ], 'no runs yet'),
  )
  return EXIT.ok
}

function runJson(r: HandlerRun) {
  return { ...r, prepare_result: jsonColumn(r.prepare_result), input_state: jsonColumn(r.input_state), output_state: jsonColumn(r.output_state) }
}

/** Lists a workflow's events in sequence order, optionally of one status or topic. */
export async function eventsCommand(app: CliApp, workflowId: string, options: ListOptions & { status?: string; topic?: string } = {}): Promise<number> {
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  const status = parseChoice(options.status, EVENT_STATUSES, '--status')
  const rows = await db.events.listByWorkflow(workflowId, {
    ...(status ? { status } : {}),
    ...(options.topic ? { topic: options.topic } : {}),
    limit: parsePositiveInt(options.limit, '--limit') ?? 200,
  })
  if (options.json) return json(app, rows.map((e) => ({ ...e, payload: jsonColumn(e.payload) })))
  const now = Date.now()
  app.io.out(
    table<Event & { topic: string }>(rows, [
      { header: 'EVENT', value: (e) => shortId(e.id) },
      { header: 'TOPIC', value: (e) => e.topic, max: 24 },
      { header: 'MESSAGE ID', value: (e) => e.message_id, max: 32 },
      { header: 'TITLE', value: (e) => e.title, max: 32 },
      { header: 'STATUS', value: (e) => e.status },
      { header: 'TRY', value: (e) => String(e.attempt_number), align: 'right' },
      { header: 'BY RUN', value: (e) => shortId(e.reserved_by_run_id) },
      { header: 'CREATED', value: (e) => ago(e.created_at, now) },
    ], 'no events'),
  )
  return EXIT.ok
}

/** Lists a workflow's mutation ledger, optionally of one status. */
export async function mutationsCommand(app: CliApp, workflowId: string, options: ListOptions & { status?: string } = {}): Promise<number> {
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  const status = parseChoice(options.status, MUTATION_STATUSES, '--status')
  const rows = (await db.mutations.listByWorkflow(workflowId, { ...(status ? { status } : {}), limit: parsePositiveInt(options.limit, '--limit') ?? 100 })).reverse()
  if (options.json) return json(app, rows.map((m) => ({ ...m, params: jsonColumn(m.params), result: jsonColumn(m.result), error: jsonColumn(m.error) })))
  const now = Date.now()
  app.io.out(
    table<Mutation>(rows, [
      { header: 'MUTATION', value: (m) => shortId(m.id) },
      { header: 'RUN', value: (m) => shortId(m.handler_run_id) },
      { header: 'TOOL', value: (m) => `${m.tool_namespace}.${m.tool_method}` },
      { header: 'STATUS', value: (m) => m.status },
      { header: 'TITLE', value: (m) => m.ui_title ?? '', max: 36 },
      { header: 'RESULT', value: (m) => (m.status === 'applied' ? compactJson(m.result) : m.error ? errorMessage(m.error) : ''), max: 48 },
      { header: 'CREATED', value: (m) => ago(m.created_at, now) },
      { header: 'RESOLVED', value: (m) => (m.resolved_by ? `${m.resolved_by} ${ago(m.resolved_at, now)}` : '') },
    ], 'no mutations'),
  )
  return EXIT.ok
}

function errorMessage(text: string): string {
  const parsed = jsonColumn(text) as { message?: unknown } | string | null
  return typeof parsed === 'object' && parsed && typeof parsed.message === 'string' ? parsed.message : String(parsed)
}

/** Prints the log lines of one run (the script's `console.*` and the engine's notes). */
export async function logsCommand(app: CliApp, run: string, options: { json?: boolean } = {}): Promise<number> {
  const { db } = await app.open()
  const runId = await resolveId(db, 'handler_runs', run)
  const lines = await db.logs.list(runId)
  if (options.json) return json(app, lines)
  if (lines.length === 0) {
    app.io.out(`no log lines for ${shortId(runId)}\n`)
    return EXIT.ok
  }
  const phaseWidth = Math.max(...lines.map((l) => l.phase.length))
  for (const l of lines as RunLog[]) {
    app.io.out(`${new Date(l.timestamp).toISOString().slice(11, 23)}  ${l.phase.padEnd(phaseWidth)}  ${l.level.padEnd(5)}  ${l.message}\n`)
  }
  return EXIT.ok
}

function json(app: CliApp, value: unknown): number {
  printJson(app.io, value)
  return EXIT.ok
}
