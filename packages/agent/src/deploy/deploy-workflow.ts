/** Deploying a script version: validate, store, activate (SPEC §2, §3). */
import { validateWorkflowScript } from '@ledgerflow/sandbox'
import type { EngineContext } from '../context.js'
import { LogicError, WorkflowValidationError } from '../errors.js'
import { scheduleOf } from '../scheduler/schedule-math.js'
import type { HandlerConfig } from '../schemas.js'

/** What to deploy. */
export interface DeployOptions {
  /** Workflow id; a new one is generated when omitted. Letters, digits, `_`, `-` and `.`. */
  id?: string
  title: string
  /** The script source. */
  code: string
  /** Make this version the active one (default true). A new workflow becomes `active`. */
  activate?: boolean
}

/** What a deploy did. */
export interface DeployResult {
  workflowId: string
  scriptId: string
  version: number
  config: HandlerConfig
  warnings: string[]
}

const WORKFLOW_ID = /^[A-Za-z0-9][\w.-]{0,127}$/

/**
 * Validates a script (SPEC §2) and stores it as the workflow's next version; with `activate` (default) it becomes
 * the active script: the workflow's handler config, topics and producer schedules follow it, new or changed
 * producers are due at once, and every consumer's idle marker is cleared (the new code may accept what the old one
 * declined). A workflow in `paused` or `error` keeps its status: resume or retry it after deploying the fix.
 * Throws {@link WorkflowValidationError} with the validator's whole message.
 */
export async function deployWorkflow(ctx: EngineContext, options: DeployOptions): Promise<DeployResult> {
  const title = options.title.trim()
  if (title.length === 0) throw new LogicError('A workflow needs a non-empty title', { code: 'invalid_title' })
  const workflowId = options.id ?? ctx.ids('workflow')
  if (!WORKFLOW_ID.test(workflowId)) {
    throw new LogicError(`Workflow id '${workflowId}' is invalid: use up to 128 letters, digits, '_', '-' or '.', starting with a letter or digit`, {
      code: 'invalid_workflow_id',
    })
  }
  const { Topics: _topics, ...globals } = ctx.tools.globals
  const validation = await validateWorkflowScript(options.code, { globals: { ...globals } })
  if (!validation.ok) throw new WorkflowValidationError(validation.error.message, validation.error.location)
  const config = validation.config as HandlerConfig
  const activate = options.activate ?? true
  const now = ctx.clock.now()
  const scriptId = ctx.ids('script')
  const configJson = JSON.stringify(config)
  const topics = new Set([...config.topics, ...config.consumers.flatMap((c) => [...c.subscribe, ...c.publishes]), ...config.producers.flatMap((p) => p.publishes)])

  const { version, statusChange } = await ctx.db.transaction(async (tx) => {
    const existing = await tx.workflows.get(workflowId)
    if (!existing) {
      await tx.workflows.insert({
        id: workflowId,
        title,
        status: 'draft',
        active_script_id: null,
        handler_config: null,
        error: null,
        error_type: null,
        consumer_sleep_until: null,
        created_at: now,
        updated_at: now,
      })
    } else if (existing.title !== title) {
      await tx.workflows.setTitle(workflowId, title, now)
    }
    const version = (await tx.scripts.latestVersion(workflowId)) + 1
    await tx.scripts.insert({ id: scriptId, workflow_id: workflowId, version, code: options.code, handler_config: configJson, created_at: now })
    await tx.topics.ensure(workflowId, [...topics], { now, newId: () => ctx.ids('topic') })
    if (!activate) return { version, statusChange: undefined }
    await tx.workflows.setActiveScript({ id: workflowId, scriptId, handlerConfig: configJson, now })
    await tx.schedules.sync(
      workflowId,
      config.producers.map((p) => ({ producerName: p.name, ...kindOf(p), nextRunAt: now })),
      now,
    )
    for (const c of config.consumers) await tx.wakeups.set(workflowId, c.name, { idleAfterSequence: null, wakeAt: null, now })
    const from = existing?.status ?? 'draft'
    if (from === 'draft' && (await tx.workflows.transitionStatus(workflowId, { from: ['draft'], to: 'active', now }))) {
      return { version, statusChange: { from: existing ? from : undefined } }
    }
    return { version, statusChange: undefined }
  })
  ctx.events.emit('workflow:deployed', { workflowId, scriptId, version })
  if (statusChange) ctx.events.emit('workflow:status', { workflowId, from: statusChange.from, to: 'active' })
  return { workflowId, scriptId, version, config, warnings: validation.warnings }
}

function kindOf(producer: HandlerConfig['producers'][number]) {
  const s = scheduleOf(producer)
  return { kind: s.kind, expression: s.expression, timezone: s.timezone }
}
