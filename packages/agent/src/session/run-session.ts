/**
 * Sessions (SPEC §7): open atomically, finish unfinished runs, producers, the consumer loop, close. Exclusivity is
 * enforced by the database (a partial unique index), never by a check-then-act.
 */
import type { EngineContext } from '../context.js'
import { NotFoundError, SessionBusyError } from '../errors.js'
import { driveSession } from './drive-session.js'
import type { SessionOptions, SessionResult } from './session-result.js'
import { openSession } from './session-rows.js'

/**
 * Runs one session of a workflow to its end. Throws `WorkflowNotRunnableError` (no session row) when the workflow
 * is not active or has no active script, and `SessionBusyError` when a session is already open.
 *
 * ### Examples
 * ```ts
 * const result = await executeWorkflowSession(ctx, 'inbox', { trigger: 'manual', maxIterations: 50 })
 * if (result.status === 'failed') console.error(result.error)
 * ```
 */
export async function executeWorkflowSession(ctx: EngineContext, workflowId: string, options: SessionOptions = {}): Promise<SessionResult> {
  const session = await openSession(ctx, workflowId, options)
  if (!session) throw new SessionBusyError(workflowId, (await ctx.db.sessions.getOpen(workflowId))?.id)
  return driveSession(ctx, session)
}

/** Like {@link executeWorkflowSession}, but returns `null` when a session is already open. */
export async function executeWorkflowSessionIfIdle(
  ctx: EngineContext,
  workflowId: string,
  options: SessionOptions = {},
): Promise<SessionResult | null> {
  const session = await openSession(ctx, workflowId, options)
  return session ? driveSession(ctx, session) : null
}

/** Whether a session could start now: the workflow is active with an active script and has no open session. */
export async function canStartSession(ctx: EngineContext, workflowId: string): Promise<boolean> {
  const workflow = await ctx.db.workflows.get(workflowId)
  if (!workflow || workflow.status !== 'active' || !workflow.active_script_id) return false
  return (await ctx.db.sessions.getOpen(workflowId)) === undefined
}

/** The cost of a session in microdollars: the SQL sum of its runs' costs (0 without runs). */
export function getSessionCost(ctx: EngineContext, sessionId: string): Promise<number> {
  return ctx.db.sessions.cost(sessionId)
}

/**
 * Continues an open session (after a crash): its unfinished runs, the producers it had not run yet, then the
 * consumer loop with the REMAINING budget (consumer runs already in the session count; producer runs do not).
 * Takes the lease over when it has expired; refuses a session another live worker holds.
 */
export async function continueSession(ctx: EngineContext, sessionId: string): Promise<SessionResult> {
  let session = await ctx.db.sessions.get(sessionId)
  if (!session) throw new NotFoundError('session', sessionId)
  if (session.end_timestamp !== null) {
    return {
      sessionId,
      status: session.status as SessionResult['status'],
      ...(session.error && session.status === 'failed' ? { error: session.error } : {}),
      ...(session.error && session.status === 'suspended' ? { reason: session.error } : {}),
      ...(session.error_type ? { errorType: session.error_type } : {}),
      ...(session.budget_exhausted ? { budgetExhausted: session.budget_exhausted } : {}),
    }
  }
  const now = ctx.clock.now()
  if (session.owner !== ctx.config.workerId) {
    const expired = session.lease_expires_at === null || session.lease_expires_at <= now
    const took =
      expired &&
      (await ctx.db.sessions.takeOverLease(sessionId, {
        expectedOwner: session.owner,
        expectedLeaseExpiresAt: session.lease_expires_at,
        owner: ctx.config.workerId,
        leaseExpiresAt: now + ctx.config.leaseMs,
      }))
    if (!took) throw new SessionBusyError(session.workflow_id, sessionId)
    ctx.events.emit('session:recovered', { sessionId, workflowId: session.workflow_id, previousOwner: session.owner })
    session = (await ctx.db.sessions.get(sessionId))!
  }
  return driveSession(ctx, session)
}
