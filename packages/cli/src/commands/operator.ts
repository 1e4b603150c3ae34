/** Operator actions: `resolve`, `requeue`, `pause`, `resume`, `publish` (`retry` lives with `run`). */
import { userInfo } from 'node:os'
import type { Resolution } from '@ledgerflow/agent'
import type { CliApp } from '../app.js'
import { CliError } from '../errors.js'
import { resolveId } from '../format/resolve-id.js'
import { shortId } from '../format/values.js'
import { EXIT, getWorkflow, parseChoice, parseJsonOption, printJson } from './shared.js'

const RESOLUTIONS: readonly Resolution[] = ['applied', 'not_applied', 'skip']

/** Who resolves from the CLI, as recorded in the ledger's `resolved_by`. */
function operator(): string {
  try {
    return `cli:${userInfo().username}`
  } catch {
    return 'cli'
  }
}

/** Settles a mutation whose outcome is unknown. */
export async function resolveCommand(app: CliApp, mutation: string, resolution: string, options: { result?: string; json?: boolean } = {}): Promise<number> {
  const how = parseChoice(resolution, RESOLUTIONS, 'the resolution')!
  const result = parseJsonOption(options.result, '--result')
  if (result !== undefined && how !== 'applied') throw new CliError('invalid_option', '--result only goes with applied')
  const { db, engine } = await app.open()
  const id = await resolveId(db, 'mutations', mutation)
  const outcome = await engine.resolveMutation(id, how, { ...(result !== undefined ? { result } : {}), by: operator() })
  if (options.json) {
    printJson(app.io, outcome)
    return EXIT.ok
  }
  const effect =
    how === 'applied' ? `run ${shortId(outcome.runId)} continues at next with the result` : how === 'skip' ? `run ${shortId(outcome.runId)} continues at next with {status:'skipped'}` : `its events were released to run again`
  app.io.out(`mutation ${shortId(id)} resolved as ${outcome.status}; ${effect}\n`)
  const workflow = (await db.runs.get(outcome.runId))?.workflow_id
  if (outcome.workflowResumed) app.io.out(`workflow ${workflow} is active again; the worker continues it (or: ledgerflow run ${workflow})\n`)
  return EXIT.ok
}

/** Puts a dead event back to pending. */
export async function requeueCommand(app: CliApp, event: string, options: { json?: boolean } = {}): Promise<number> {
  const { db, engine } = await app.open()
  const id = await resolveId(db, 'events', event)
  await engine.requeueEvent(id)
  if (options.json) printJson(app.io, { eventId: id, status: 'pending' })
  else app.io.out(`event ${shortId(id)} is pending again\n`)
  return EXIT.ok
}

/** Pauses a workflow (no new sessions; a running one stops at its next checkpoint). */
export async function pauseCommand(app: CliApp, workflowId: string, options: { json?: boolean } = {}): Promise<number> {
  const { engine, db } = await app.open()
  await engine.pause(workflowId)
  return report(app, { workflowId, status: (await getWorkflow(db, workflowId)).status }, options.json)
}

/** Resumes a paused workflow. */
export async function resumeCommand(app: CliApp, workflowId: string, options: { json?: boolean } = {}): Promise<number> {
  const { engine, db } = await app.open()
  await engine.resume(workflowId)
  return report(app, { workflowId, status: (await getWorkflow(db, workflowId)).status }, options.json)
}

/** Prints a workflow's status after `pause` or `resume` (one JSON document with `json`). */
function report(app: CliApp, { workflowId, status }: { workflowId: string; status: string }, json: boolean | undefined): number {
  if (json) printJson(app.io, { workflowId, status })
  else app.io.out(`workflow ${workflowId} is ${status}\n`)
  return EXIT.ok
}

/** Publishes an external event into a workflow topic (idempotent by message id). */
export async function publishCommand(
  app: CliApp,
  workflowId: string,
  topic: string,
  options: { messageId: string; title?: string; payload?: string; json?: boolean },
): Promise<number> {
  const payload = parseJsonOption(options.payload, '--payload')
  const { engine } = await app.open()
  const outcome = await engine.publish(workflowId, topic, { messageId: options.messageId, ...(options.title ? { title: options.title } : {}), payload: payload ?? null })
  if (options.json) printJson(app.io, outcome)
  else if (outcome.duplicate) app.io.out(`message ${options.messageId} was already published to ${topic}; ignored\n`)
  else app.io.out(`published ${options.messageId} to ${topic} as ${shortId(outcome.eventId)}\n`)
  return EXIT.ok
}
