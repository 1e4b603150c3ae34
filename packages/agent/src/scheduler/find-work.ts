/**
 * What the worker should run now, and when to look again (SPEC §10): due producers get `schedule` sessions, due
 * transient retries and ownerless runs get `retry` sessions, pending events a consumer is eligible for and due
 * `wakeAt`s get `event` sessions. Everything is read from the database, so several workers (and restarts) agree.
 */
import type { SessionTrigger } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import { pickConsumer } from '../session/pick-consumer.js'

/** One session to start. */
export interface WorkItem {
  workflowId: string
  trigger: SessionTrigger
}

/** The scheduler's answer. */
export interface WorkPlan {
  items: WorkItem[]
  /** The earliest future time something becomes due (producer, retry, wakeAt), if any. */
  nextWakeAt: number | undefined
}

/** How much work to look for. */
export interface FindWorkOptions {
  /**
   * Stop checking workflows with pending events once this many items are found: the caller's free session slots.
   * Each such check costs three statements, so a worker that can start one session does not check all of them.
   * Due producers, retries and wake-ups (one statement each, for every workflow) are always listed. Default: no limit.
   */
  limit?: number
  /** Workflows the caller will not start now (for example in a backoff): neither checked nor listed. */
  skip?: (workflowId: string) => boolean
  /**
   * The order in which workflows with pending events are checked (default: as read). Workers sharing a database pass
   * a shuffle ({@link shuffled}), so that with a limit they try different workflows first instead of racing for the
   * same session.
   */
  order?: (workflowIds: string[]) => string[]
}

const PRIORITY: Record<SessionTrigger, number> = { retry: 0, schedule: 1, manual: 1, event: 2 }

/** Finds the work that is due at `now`, one item per workflow, skipping workflows with an open session. */
export async function findWork(ctx: EngineContext, now: number, options: FindWorkOptions = {}): Promise<WorkPlan> {
  const found = new Map<string, SessionTrigger>()
  const add = (workflowId: string, trigger: SessionTrigger) => {
    const current = found.get(workflowId)
    if (!current || PRIORITY[trigger] < PRIORITY[current]) found.set(workflowId, trigger)
  }
  await addDueWork(ctx, now, add)
  // Pending events: two index probes per topic; then each candidate's consumers decide (idle markers).
  const candidates = await withPendingEvents(ctx)
  // Workflows with an open session (here or at another worker) cannot start one: skip their consumer check, which
  // costs three statements per workflow (this is what grows with the number of workers sharing a database).
  const open = await withOpenSession(ctx)
  const startable = (workflowId: string) => !open.has(workflowId) && !(options.skip?.(workflowId) ?? false)
  const limit = options.limit ?? Infinity
  let count = [...found.keys()].filter(startable).length
  const ids = candidates.map((c) => c.workflow_id)
  for (const workflowId of options.order ? options.order(ids) : ids) {
    if (count >= limit) break
    if (found.has(workflowId) || !startable(workflowId)) continue
    if (await hasEligibleConsumer(ctx, workflowId, now)) {
      add(workflowId, 'event')
      count++
    }
  }

  const items = [...found].filter(([id]) => startable(id)).map(([workflowId, trigger]) => ({ workflowId, trigger }))
  return { items, nextWakeAt: await nextWakeAt(ctx, now) }
}

/** Adds the work that is due whatever the events: due producers, due or ownerless runs, and due wake-ups. */
async function addDueWork(ctx: EngineContext, now: number, add: (workflowId: string, trigger: SessionTrigger) => void): Promise<void> {
  const db = ctx.db.kysely
  const active = db.selectFrom('workflows').select('id').where('status', '=', 'active')

  for (const s of await ctx.db.schedules.listDue(now)) add(s.workflow_id, 'schedule')

  // Runs that wait for a retry that is due, and active runs nobody owns (their session closed or was lost).
  const runs = await db
    .selectFrom('handler_runs')
    .select(['workflow_id', 'status', 'retry_at'])
    .where('workflow_id', 'in', active)
    .where((eb) => eb.or([eb.and([eb('status', '=', 'waiting'), eb('retry_at', '<=', now)]), eb('status', '=', 'active')]))
    .execute()
  for (const r of runs) add(r.workflow_id, 'retry')

  // Wake-ups that are due.
  const woken = await db
    .selectFrom('consumer_wakeups')
    .select('workflow_id')
    .distinct()
    .where('workflow_id', 'in', active)
    .where('wake_at', '<=', now)
    .execute()
  for (const w of woken) add(w.workflow_id, 'event')
}

/** The active workflows that have pending events. */
async function withPendingEvents(ctx: EngineContext): Promise<{ workflow_id: string }[]> {
  const db = ctx.db.kysely
  const active = db.selectFrom('workflows').select('id').where('status', '=', 'active')
  return db
    .selectFrom('topics as t')
    .select('t.workflow_id')
    .distinct()
    .where('t.workflow_id', 'in', active)
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('events as e').select('e.id').whereRef('e.topic_id', '=', 't.id').where('e.status', '=', 'pending')),
    )
    .execute()
}

/** The workflows with an open session. */
async function withOpenSession(ctx: EngineContext): Promise<Set<string>> {
  const db = ctx.db.kysely
  return new Set(
    (await db.selectFrom('script_runs').select('workflow_id').where('end_timestamp', 'is', null).execute()).map((r) => r.workflow_id),
  )
}

/** A copy of `items` in random order (Fisher–Yates with `random`, a function like `Math.random`); pure given `random`. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

async function hasEligibleConsumer(ctx: EngineContext, workflowId: string, now: number): Promise<boolean> {
  const workflow = await ctx.db.workflows.get(workflowId)
  if (!workflow?.active_script_id) return false
  const script = await ctx.loadScript(workflow.active_script_id)
  const topics = [...new Set(script.config.consumers.flatMap((c) => c.subscribe))]
  const { bounds, wakeups } = await ctx.db.workflows.pickView(workflowId, topics)
  return pickConsumer(script.config.consumers, new Map(bounds.map((b) => [b.topic, b])), new Map(wakeups.map((w) => [w.consumerName, w])), now) !== undefined
}

/**
 * The earliest FUTURE due time. Each minimum is taken over times after `now` only: a due item the worker cannot start
 * yet (its workflow has a session open elsewhere, or concurrency is used up) must not hide the next future one, or the
 * worker would sleep past it until its idle check.
 */
async function nextWakeAt(ctx: EngineContext, now: number): Promise<number | undefined> {
  const db = ctx.db.kysely
  const active = db.selectFrom('workflows').select('id').where('status', '=', 'active')
  const [schedule, retry, wake] = await Promise.all([
    db
      .selectFrom('producer_schedules')
      .select((eb) => eb.fn.min('next_run_at').as('m'))
      .where('next_run_at', '>', now)
      .where('workflow_id', 'in', active)
      .executeTakeFirst(),
    db
      .selectFrom('handler_runs')
      .select((eb) => eb.fn.min('retry_at').as('m'))
      .where('status', '=', 'waiting')
      .where('retry_at', '>', now)
      .where('workflow_id', 'in', active)
      .executeTakeFirst(),
    db
      .selectFrom('consumer_wakeups')
      .select((eb) => eb.fn.min('wake_at').as('m'))
      .where('wake_at', '>', now)
      .where('workflow_id', 'in', active)
      .executeTakeFirst(),
  ])
  const times = [schedule?.m, retry?.m, wake?.m]
    .filter((t): t is number => t !== null && t !== undefined)
    .map(Number)
    .filter((t) => t > now)
  return times.length > 0 ? Math.min(...times) : undefined
}
