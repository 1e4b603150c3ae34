/** `ledgerflow run <id>` and `ledgerflow retry <id>`: one session with live progress; the exit code is its result. */
import type { Engine, SessionOptions, SessionResult } from '@ledgerflow/agent'
import type { CliApp } from '../app.js'
import { CliError } from '../errors.js'
import { shortId } from '../format/values.js'
import { attachProgress, summaryLines } from '../progress.js'
import { exitCodeOf, getWorkflow, parsePositiveInt, printJson } from './shared.js'

/** Budget options of `run` and `retry`. */
export interface RunCommandOptions {
  maxIterations?: string
  maxCost?: string
  maxDuration?: string
  json?: boolean
}

function budget(options: RunCommandOptions): Omit<SessionOptions, 'trigger'> {
  const maxIterations = parsePositiveInt(options.maxIterations, '--max-iterations')
  const maxCostMicrodollars = parsePositiveInt(options.maxCost, '--max-cost')
  const maxDurationMs = parsePositiveInt(options.maxDuration, '--max-duration')
  return {
    ...(maxIterations ? { maxIterations } : {}),
    ...(maxCostMicrodollars ? { maxCostMicrodollars } : {}),
    ...(maxDurationMs ? { maxDurationMs } : {}),
  }
}

/** What to do next after a session that did not complete. Pure. */
export function nextSteps(workflowId: string, result: SessionResult): string[] {
  if (result.status === 'failed') {
    return [`fix the script, then: ledgerflow deploy <script.js> --workflow ${workflowId} && ledgerflow retry ${workflowId}`]
  }
  if (result.status === 'suspended' && result.errorType === 'indeterminate') {
    return [`a mutation outcome is unknown: ledgerflow mutations ${workflowId} --status indeterminate, then ledgerflow resolve <mutation> applied|not_applied|skip`]
  }
  if (result.status === 'suspended' && (result.errorType === 'auth' || result.errorType === 'permission')) {
    return [`fix the credentials or rights, then: ledgerflow resume ${workflowId}`]
  }
  if (result.status === 'suspended') return [`the worker continues it later (ledgerflow worker), or run again: ledgerflow run ${workflowId}`]
  return []
}

/**
 * Runs `start` with progress attached and prints the summary. `start` returns `null` when another session is open.
 */
async function withProgress(
  app: CliApp,
  { workflowId, json }: { workflowId: string; json: boolean | undefined },
  start: (engine: Engine) => Promise<SessionResult | null>,
): Promise<number> {
  const { engine } = await app.open()
  const progress = attachProgress(engine.events, app.io, workflowId)
  const began = Date.now()
  let result: SessionResult | null
  try {
    result = await start(engine)
  } finally {
    progress.dispose()
  }
  if (!result) throw new CliError('session_busy', `workflow '${workflowId}' already has an open session (a worker may be running it)`)
  const cost = await engine.sessionCost(result.sessionId)
  if (json) {
    printJson(app.io, { ...result, cost, totals: progress.totals })
  } else {
    for (const line of summaryLines(result, progress.totals, { cost, ms: Date.now() - began })) app.io.out(`${line}\n`)
    if (result.status === 'failed') app.io.err(`error: session_failed: ${result.errorType ?? 'error'}: ${result.error ?? 'unknown failure'}\n`)
    for (const line of nextSteps(workflowId, result)) app.io.err(`next: ${line}\n`)
  }
  return exitCodeOf(result)
}

/** Runs one manual session (every producer, then the consumers) of a workflow. */
export async function runCommand(app: CliApp, workflowId: string, options: RunCommandOptions = {}): Promise<number> {
  const limits = budget(options)
  const { db, engine } = await app.open()
  await getWorkflow(db, workflowId)
  const open = await db.sessions.getOpen(workflowId)
  if (open) {
    // A session left open by a process that died is recovered first (a live owner's session is left alone).
    const report = await engine.recover()
    const recovered = report.resumed.find((r) => r.workflowId === workflowId)
    if (recovered) app.io.err(`recovered interrupted session ${shortId(recovered.sessionId)}: ${recovered.result.status}\n`)
  }
  return withProgress(app, { workflowId, json: options.json }, (e) => e.runSessionIfIdle(workflowId, { ...limits, trigger: 'manual' }))
}

/** Makes a workflow in `error` or `paused` active again and runs a `retry` session. */
export async function retryCommand(app: CliApp, workflowId: string, options: RunCommandOptions = {}): Promise<number> {
  const limits = budget(options)
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  return withProgress(app, { workflowId, json: options.json }, (e) => e.retry(workflowId, limits))
}
