/** Reads what the report shows about one workflow, in a few queries, with caps so a busy workflow stays readable. */
import type { Event, EventStatus, HandlerRun, LedgerflowDb, Mutation, Session, Workflow } from '@ledgerflow/db'

/** Most recent sessions shown (with their runs). */
export const MAX_SESSIONS = 200
/** Most recent ledger rows shown. */
export const MAX_MUTATIONS = 500
/** Most recent events shown in the table (counts cover all). */
export const MAX_EVENTS = 500

/** One session with its runs and what they cost. */
export interface SessionView {
  session: Session
  runs: HandlerRun[]
  /** Microdollars: the sum of its runs' costs now (as `getSessionCost` answers). */
  cost: number
  /**
   * The cost stored when the session closed, when it differs from `cost` (a run of this session that was still
   * waiting at the close went on, and spent, in a later session).
   */
  costAtClose?: number
}

/** Everything the report renders. */
export interface ReportData {
  workflow: Workflow
  script: { id: string; version: number } | undefined
  /** Oldest first; at most {@link MAX_SESSIONS}. */
  sessions: SessionView[]
  sessionCount: number
  /** Oldest first; at most {@link MAX_MUTATIONS}. */
  mutations: Mutation[]
  mutationCount: number
  /** Ledger row of each run that has one. */
  ledgerByRun: Map<string, Mutation>
  /** Session of each shown run. */
  sessionOfRun: Map<string, string>
  eventsByStatus: Partial<Record<EventStatus, number>>
  eventsByTopic: Array<{ topic: string; counts: Partial<Record<EventStatus, number>>; total: number }>
  /** Newest last; at most {@link MAX_EVENTS}. */
  events: Array<Event & { topic: string }>
  eventCount: number
  runCount: number
  runsByStatus: Record<string, number>
  /** Microdollars over every run of the workflow. */
  totalCost: number
  now: number
}

/** Loads the report's data; undefined when the workflow does not exist. */
export async function loadReport(db: LedgerflowDb, workflowId: string, now: number): Promise<ReportData | undefined> {
  const workflow = await db.workflows.get(workflowId)
  if (!workflow) return undefined
  const script = workflow.active_script_id ? await db.scripts.get(workflow.active_script_id) : undefined
  const { sessions, runs, runLedger } = await latestSessions(db, workflowId)
  const runsBySession = new Map<string, HandlerRun[]>()
  for (const run of runs) {
    const list = runsBySession.get(run.script_run_id) ?? []
    list.push(run)
    runsBySession.set(run.script_run_id, list)
  }
  const mutations = (await db.mutations.listByWorkflow(workflowId, { limit: MAX_MUTATIONS })).sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id))
  const { counts, totals, topicRows, events, mutationCount } = await workflowCounts(db, workflowId)
  const { eventsByStatus, eventsByTopic } = tallyEvents(topicRows)
  const { runsByStatus, totalCost } = tallyRuns(totals)
  return {
    workflow,
    script: script ? { id: script.id, version: script.version } : undefined,
    sessions: sessions.map((session) => {
      const own = runsBySession.get(session.id) ?? []
      const cost = own.reduce((sum, r) => sum + r.cost, 0)
      return { session, runs: own, cost, ...(session.end_timestamp !== null && session.cost !== cost ? { costAtClose: session.cost } : {}) }
    }),
    sessionCount: Number(counts?.n ?? 0),
    mutations,
    mutationCount: Number(mutationCount?.n ?? 0),
    ledgerByRun: new Map([...runLedger, ...mutations].map((m) => [m.handler_run_id, m])),
    sessionOfRun: new Map(runs.map((r) => [r.id, r.script_run_id])),
    eventsByStatus,
    eventsByTopic,
    events: events.reverse(),
    eventCount: Object.values(eventsByStatus).reduce((a, b) => a + (b ?? 0), 0),
    runCount: Object.values(runsByStatus).reduce((a, b) => a + b, 0),
    runsByStatus,
    totalCost,
    now,
  }
}

/** The workflow's counts (sessions, runs and their cost by status, events by topic and status, ledger rows) and its latest events. */
async function workflowCounts(db: LedgerflowDb, workflowId: string) {
  const k = db.kysely
  const [counts, totals, topicRows, events, mutationCount] = await Promise.all([
    k.selectFrom('script_runs').select((eb) => eb.fn.countAll<number>().as('n')).where('workflow_id', '=', workflowId).executeTakeFirst(),
    k
      .selectFrom('handler_runs')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n'), eb.fn.coalesce(eb.fn.sum<number>('cost'), eb.lit(0)).as('cost')])
      .where('workflow_id', '=', workflowId)
      .groupBy('status')
      .execute(),
    k
      .selectFrom('events')
      .innerJoin('topics', 'topics.id', 'events.topic_id')
      .select((eb) => ['topics.name as topic', 'events.status', eb.fn.countAll<number>().as('n')])
      .where('events.workflow_id', '=', workflowId)
      .groupBy(['topics.name', 'events.status'])
      .orderBy('topics.name')
      .execute(),
    k
      .selectFrom('events')
      .innerJoin('topics', 'topics.id', 'events.topic_id')
      .selectAll('events')
      .select('topics.name as topic')
      .where('events.workflow_id', '=', workflowId)
      .orderBy('events.sequence', 'desc')
      .limit(MAX_EVENTS)
      .execute(),
    k.selectFrom('mutations').select((eb) => eb.fn.countAll<number>().as('n')).where('workflow_id', '=', workflowId).executeTakeFirst(),
  ])
  return { counts, totals, topicRows, events, mutationCount }
}

/** The latest {@link MAX_SESSIONS} sessions (oldest first), their runs, and the ledger rows of those runs. */
async function latestSessions(db: LedgerflowDb, workflowId: string) {
  const sessions = (await db.sessions.listByWorkflow(workflowId, { limit: MAX_SESSIONS })).reverse()
  if (sessions.length === 0) return { sessions, runs: [] as HandlerRun[], runLedger: [] as Mutation[] }
  const ids = sessions.map((s) => s.id)
  const runs = await db.kysely.selectFrom('handler_runs').selectAll().where('workflow_id', '=', workflowId).where('script_run_id', 'in', ids).orderBy('ordinal').execute()
  // The ledger rows of the shown runs (whether or not they are among the latest rows listed).
  const runLedger = await db.kysely
    .selectFrom('mutations')
    .innerJoin('handler_runs', 'handler_runs.id', 'mutations.handler_run_id')
    .selectAll('mutations')
    .where('mutations.workflow_id', '=', workflowId)
    .where('handler_runs.script_run_id', 'in', ids)
    .execute()
  return { sessions, runs, runLedger }
}

/** Pure; event counts by status, overall and per topic (topics in the order given). */
function tallyEvents(rows: ReadonlyArray<{ topic: string; status: EventStatus; n: number | string | bigint }>) {
  const eventsByStatus: Partial<Record<EventStatus, number>> = {}
  const byTopic = new Map<string, { topic: string; counts: Partial<Record<EventStatus, number>>; total: number }>()
  for (const row of rows) {
    const n = Number(row.n)
    eventsByStatus[row.status] = (eventsByStatus[row.status] ?? 0) + n
    const entry = byTopic.get(row.topic) ?? { topic: row.topic, counts: {}, total: 0 }
    entry.counts[row.status] = n
    entry.total += n
    byTopic.set(row.topic, entry)
  }
  return { eventsByStatus, eventsByTopic: [...byTopic.values()] }
}

/** Pure; run counts by status and the cost of them all (microdollars). */
function tallyRuns(rows: ReadonlyArray<{ status: string; n: number | string | bigint; cost: number | string | bigint }>) {
  const runsByStatus: Record<string, number> = {}
  let totalCost = 0
  for (const t of rows) {
    runsByStatus[t.status] = Number(t.n)
    totalCost += Number(t.cost)
  }
  return { runsByStatus, totalCost }
}
