/** `ledgerflow status [id]`: every workflow at a glance, or one workflow in detail. */
import type { LedgerflowDb, Workflow } from '@ledgerflow/db'
import type { CliApp } from '../app.js'
import { fields, table } from '../format/table.js'
import { ago, money, shortId } from '../format/values.js'
import { EXIT, getWorkflow, jsonColumn, printJson } from './shared.js'

/** Options of `status`. */
export interface StatusOptions {
  json?: boolean
}

/** The facts `status` shows about one workflow. */
async function summarize(db: LedgerflowDb, workflow: Workflow) {
  const [script, sessions, events, schedules, open, indeterminate] = await Promise.all([
    workflow.active_script_id ? db.scripts.get(workflow.active_script_id) : undefined,
    db.sessions.listByWorkflow(workflow.id, { limit: 1 }),
    db.events.countByStatus(workflow.id),
    db.schedules.list(workflow.id),
    db.sessions.getOpen(workflow.id),
    db.mutations.listByWorkflow(workflow.id, { status: 'indeterminate' }),
  ])
  const next = schedules.map((s) => s.next_run_at).sort((a, b) => a - b)[0]
  const last = sessions[0]
  return {
    id: workflow.id,
    title: workflow.title,
    status: workflow.status,
    version: script?.version ?? null,
    error: workflow.error,
    errorType: workflow.error_type,
    events,
    openSession: open ? { id: open.id, trigger: open.trigger, startedAt: open.start_timestamp, owner: open.owner } : null,
    lastSession: last
      ? { id: last.id, status: last.status, trigger: last.trigger, startedAt: last.start_timestamp, endedAt: last.end_timestamp, cost: last.cost, runs: last.handler_run_count }
      : null,
    nextProducerRunAt: next ?? null,
    schedules: schedules.map((s) => ({ producer: s.producer_name, kind: s.kind, expression: s.expression, timezone: s.timezone, nextRunAt: s.next_run_at, lastRunAt: s.last_run_at })),
    indeterminateMutations: indeterminate.map((m) => m.id),
    handlerConfig: jsonColumn(workflow.handler_config),
    updatedAt: workflow.updated_at,
  }
}

type Summary = Awaited<ReturnType<typeof summarize>>

const eventCounts = (e: Summary['events']) =>
  (['pending', 'reserved', 'consumed', 'skipped', 'dead'] as const)
    .filter((k) => e[k])
    .map((k) => `${e[k]} ${k}`)
    .join(', ') || 'none'

function detail(s: Summary, now: number): string {
  const pairs: Array<[string, string]> = [
    ['workflow', `${s.id} (${s.title})`],
    ['status', s.status + (s.error ? ` — ${s.errorType ?? 'error'}: ${s.error}` : '')],
    ['script', s.version === null ? 'none active' : `v${s.version}`],
    ['events', eventCounts(s.events)],
    ['session', s.openSession ? `${shortId(s.openSession.id)} running since ${ago(s.openSession.startedAt, now)} (${s.openSession.owner ?? 'no owner'})` : 'none open'],
    [
      'last session',
      s.lastSession
        ? `${shortId(s.lastSession.id)} ${s.lastSession.status} ${ago(s.lastSession.endedAt ?? s.lastSession.startedAt, now)}, ${s.lastSession.runs} runs, ${money(s.lastSession.cost)}`
        : 'never ran',
    ],
  ]
  for (const p of s.schedules) {
    const when = p.kind === 'interval' ? `every ${p.expression}` : `cron "${p.expression}"${p.timezone ? ` ${p.timezone}` : ''}`
    pairs.push([`producer ${p.producer}`, `${when}, next ${ago(p.nextRunAt, now)}, last ${ago(p.lastRunAt, now)}`])
  }
  if (s.indeterminateMutations.length) pairs.push(['needs a person', `unknown outcome of ${s.indeterminateMutations.map(shortId).join(', ')} (ledgerflow resolve)`])
  return fields(pairs)
}

/** Prints every workflow, or one in detail. */
export async function statusCommand(app: CliApp, workflowId: string | undefined, options: StatusOptions = {}): Promise<number> {
  const { db } = await app.open()
  const now = Date.now()
  if (workflowId) {
    const s = await summarize(db, await getWorkflow(db, workflowId))
    if (options.json) printJson(app.io, s)
    else app.io.out(detail(s, now))
    return EXIT.ok
  }
  const all = await Promise.all((await db.workflows.list()).map((w) => summarize(db, w)))
  if (options.json) {
    printJson(app.io, all)
    return EXIT.ok
  }
  app.io.out(
    table(
      all,
      [
        { header: 'WORKFLOW', value: (s) => s.id, max: 32 },
        { header: 'TITLE', value: (s) => s.title, max: 30 },
        { header: 'STATUS', value: (s) => s.status },
        { header: 'VER', value: (s) => (s.version === null ? '-' : `v${s.version}`), align: 'right' },
        { header: 'PENDING', value: (s) => String(s.events.pending ?? 0), align: 'right' },
        { header: 'LAST SESSION', value: (s) => (s.lastSession ? `${s.lastSession.status} ${ago(s.lastSession.endedAt ?? s.lastSession.startedAt, now)}` : '-') },
        { header: 'NEXT RUN', value: (s) => (s.status === 'active' ? ago(s.nextProducerRunAt, now) : '-') },
        { header: 'ERROR', value: (s) => (s.error ? `${s.errorType}: ${s.error}` : ''), max: 50 },
      ],
      'no workflows yet: ledgerflow deploy <script.js>',
    ),
  )
  return EXIT.ok
}
