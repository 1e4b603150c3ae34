/**
 * Recovery (SPEC §9): finds open sessions whose owner is gone, takes their lease over atomically, and continues
 * them; closes those of workflows that are not active (their active run pauses until the workflow resumes); and
 * finishes active runs that have no open session. Afterwards no session is left open and no run is left active
 * without an owner.
 */
import { hostname } from 'node:os'
import type { Session } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import { rethrowCrash } from '../faults.js'
import { driveSession } from './drive-session.js'
import { isDriving } from './lease.js'
import { executeWorkflowSessionIfIdle } from './run-session.js'
import type { SessionResult } from './session-result.js'

/** Options of {@link resumeIncompleteSessions}. */
export interface RecoverOptions {
  /**
   * Treat every open session as orphaned, whatever its lease says. Right at start-up of the only worker of a SQLite
   * file; wrong when other workers may be alive.
   */
  force?: boolean
}

/** What recovery did. */
export interface RecoveryReport {
  /** Sessions taken over and continued, with their results. */
  resumed: Array<{ sessionId: string; workflowId: string; result: SessionResult }>
  /** Sessions of workflows that are not active, closed as suspended. */
  closed: string[]
  /** Sessions opened to finish active runs that had no open session. */
  finished: Array<{ workflowId: string; result: SessionResult }>
}

/** The default worker id: host, process and a random part, so recovery can tell a dead local owner. */
export function defaultWorkerId(): string {
  return `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`
}

/** True when the owner is a worker on this host whose process no longer exists. */
export function ownerIsDead(owner: string | null): boolean {
  if (owner === null) return true
  const [host, pidText] = owner.split('/')
  const pid = Number(pidText)
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

async function orphaned(ctx: EngineContext, options: RecoverOptions): Promise<Session[]> {
  const open = await ctx.db.sessions.listOpen()
  const now = ctx.clock.now()
  // Not by owner id: a worker restarted under the same configured id must recover what its previous process left.
  return open.filter(
    (s) =>
      !isDriving(ctx, s.id) &&
      (options.force || s.lease_expires_at === null || s.lease_expires_at <= now || ownerIsDead(s.owner)),
  )
}

/**
 * Resumes incomplete sessions. Safe to call at any time and from several workers: each session is taken over by
 * compare-and-set on its lease, so exactly one worker continues it.
 *
 * ### Examples
 * ```ts
 * const report = await resumeIncompleteSessions(ctx, { force: true }) // at start-up of the only SQLite worker
 * console.log(`${report.resumed.length} sessions resumed`)
 * ```
 */
export async function resumeIncompleteSessions(ctx: EngineContext, options: RecoverOptions = {}): Promise<RecoveryReport> {
  const report: RecoveryReport = { resumed: [], closed: [], finished: [] }
  let runs = 0
  for (const candidate of await orphaned(ctx, options)) {
    const now = ctx.clock.now()
    const took = await ctx.db.sessions.takeOverLease(candidate.id, {
      expectedOwner: candidate.owner,
      expectedLeaseExpiresAt: candidate.lease_expires_at,
      owner: ctx.config.workerId,
      leaseExpiresAt: now + ctx.config.leaseMs,
    })
    if (!took) continue
    ctx.events.emit('session:recovered', { sessionId: candidate.id, workflowId: candidate.workflow_id, previousOwner: candidate.owner })
    const session = (await ctx.db.sessions.get(candidate.id))!
    const workflow = await ctx.db.workflows.get(session.workflow_id)
    if (!workflow || workflow.status !== 'active') {
      await closeInactive(ctx, session, workflow?.status ?? 'deleted')
      report.closed.push(session.id)
      continue
    }
    runs += (await ctx.db.runs.listUnfinished(session.workflow_id)).length
    try {
      report.resumed.push({ sessionId: session.id, workflowId: session.workflow_id, result: await driveSession(ctx, session) })
    } catch (error) {
      rethrowCrash(error)
      throw error
    }
  }
  for (const workflowId of await workflowsWithOwnerlessRuns(ctx)) {
    const result = await executeWorkflowSessionIfIdle(ctx, workflowId, { trigger: 'retry' }).catch((error: unknown) => {
      rethrowCrash(error)
      return null
    })
    if (result) report.finished.push({ workflowId, result })
  }
  ctx.events.emit('recovery:done', { sessions: report.resumed.length + report.closed.length, runs })
  return report
}

/** A session of a paused (or archived...) workflow: its active run pauses and the session closes as suspended. */
async function closeInactive(ctx: EngineContext, session: Session, status: string): Promise<void> {
  const now = ctx.clock.now()
  const reason = `workflow is ${status}`
  await ctx.db.transaction(async (tx) => {
    for (const run of await tx.runs.listUnfinished(session.workflow_id)) {
      if (run.status === 'active') await tx.runs.transition(run.id, { status: 'active' }, { status: 'paused', error: reason, error_type: null })
    }
    await tx.sessions.close(session.id, { status: 'suspended', error: reason, now })
  })
  ctx.events.emit('session:end', { sessionId: session.id, workflowId: session.workflow_id, status: 'suspended', error: reason })
}

/** Active workflows with an `active` run but no open session. */
async function workflowsWithOwnerlessRuns(ctx: EngineContext): Promise<string[]> {
  const rows = await ctx.db.kysely
    .selectFrom('handler_runs')
    .innerJoin('workflows', 'workflows.id', 'handler_runs.workflow_id')
    .select('handler_runs.workflow_id')
    .distinct()
    .where('handler_runs.status', '=', 'active')
    .where('workflows.status', '=', 'active')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('script_runs')
            .select('script_runs.id')
            .whereRef('script_runs.workflow_id', '=', 'handler_runs.workflow_id')
            .where('script_runs.end_timestamp', 'is', null),
        ),
      ),
    )
    .execute()
  return rows.map((r) => r.workflow_id)
}
