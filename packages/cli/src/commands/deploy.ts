/** `ledgerflow deploy <script.js>`: validates and stores a script version, and (by default) activates it. */
import { readFile } from 'node:fs/promises'
import { basename, extname, relative, resolve } from 'node:path'
import { EngineError, type HandlerConfig, WorkflowValidationError } from '@ledgerflow/agent'
import type { CliApp } from '../app.js'
import { CliError, formatError } from '../errors.js'
import { EXIT, printJson } from './shared.js'

/** Options of `deploy`. */
export interface DeployCommandOptions {
  workflow?: string
  title?: string
  /** Commander's `--no-activate` sets this to false. */
  activate?: boolean
  json?: boolean
}

const WORKFLOW_ID = /^[A-Za-z0-9][\w.-]{0,127}$/

/** The workflow id a script file suggests: its name without extension, when that is a valid id. Pure. */
export function defaultWorkflowId(file: string): string | undefined {
  const name = basename(file, extname(file))
  return WORKFLOW_ID.test(name) && name !== 'workflow' ? name : undefined
}

/**
 * The source excerpt of a validation error: the file position and the offending line with a caret. Pure.
 *
 * ```text
 *   --> flows/inbox.js:3:14
 *    |
 *  3 |     handler: async (state) => { return 1 + },
 *    |              ^
 * ```
 */
export function sourceExcerpt(code: string, file: string, location: { line: number; column: number }): string {
  const lines = code.split(/\r?\n/)
  const text = lines[location.line - 1]
  const gutter = String(location.line).length
  const head = `  --> ${file}:${location.line}:${location.column}\n`
  if (text === undefined) return head
  const pad = ' '.repeat(gutter)
  const caret = ' '.repeat(Math.max(0, location.column - 1))
  return `${head}  ${pad} |\n  ${location.line} | ${text.replace(/\t/g, ' ')}\n  ${pad} | ${caret}^\n`
}

function describeConfig(config: HandlerConfig): string[] {
  const lines: string[] = []
  for (const p of config.producers) {
    const s = p.schedule as { interval?: string; cron?: string; timezone?: string }
    const when = s.interval ? `every ${s.interval}` : `cron "${s.cron}"${s.timezone ? ` ${s.timezone}` : ''}`
    lines.push(`  producer ${p.name} (${when})${p.publishes.length ? ` → ${p.publishes.join(', ')}` : ''}`)
  }
  for (const c of config.consumers) {
    const steps = ['prepare', c.hasMutate ? 'mutate' : '', c.hasNext ? 'next' : ''].filter(Boolean).join('/')
    lines.push(`  consumer ${c.name} ← ${c.subscribe.join(', ')} (${steps})${c.publishes.length ? ` → ${c.publishes.join(', ')}` : ''}`)
  }
  return lines
}

/** Deploys a script file. Validation errors print the message and the script position; exit 1. */
export async function deployCommand(app: CliApp, script: string, options: DeployCommandOptions = {}): Promise<number> {
  const path = resolve(app.io.cwd, script)
  let code: string
  try {
    code = await readFile(path, 'utf8')
  } catch (error) {
    throw new CliError('script_not_found', `cannot read ${script}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  const { engine, db } = await app.open()
  const id = options.workflow ?? defaultWorkflowId(path)
  const existing = id ? await db.workflows.get(id) : undefined
  const title = options.title ?? existing?.title ?? id ?? basename(path)
  const activate = options.activate ?? true
  const active = existing?.active_script_id ? await db.scripts.get(existing.active_script_id) : undefined
  if (existing && active && active.code === code && activate && title === existing.title) {
    // Deploying the active code again would only add an identical version: say so and change nothing.
    if (options.json) printJson(app.io, { workflowId: existing.id, scriptId: active.id, version: active.version, unchanged: true, status: existing.status })
    else app.io.out(`unchanged: ${existing.id} v${active.version} is already active with this script\n`)
    return EXIT.ok
  }
  try {
    const result = await engine.deployWorkflow({ ...(id ? { id } : {}), title, code, activate })
    const workflow = await db.workflows.get(result.workflowId)
    if (options.json) {
      printJson(app.io, { ...result, unchanged: false, status: workflow?.status, activated: activate })
      return EXIT.ok
    }
    const state = !activate ? 'stored, not activated' : `active script, workflow ${workflow?.status ?? 'unknown'}`
    app.io.out(`deployed ${result.workflowId} v${result.version} (${state})\n`)
    for (const line of describeConfig(result.config)) app.io.out(`${line}\n`)
    for (const warning of result.warnings) app.io.err(`warning: ${warning}\n`)
    if (workflow && (workflow.status === 'paused' || workflow.status === 'error')) {
      app.io.err(`note: the workflow is ${workflow.status}; after this fix run: ledgerflow ${workflow.status === 'error' ? 'retry' : 'resume'} ${result.workflowId}\n`)
    }
    return EXIT.ok
  } catch (error) {
    if (!(error instanceof WorkflowValidationError) && !(EngineError.isInstance(error) && error.code === 'workflow_invalid')) throw error
    const location = (error as WorkflowValidationError).location
    if (options.json) {
      printJson(app.io, { ok: false, error: { code: 'workflow_invalid', message: error.message, file: script, ...(location ? { location } : {}) } })
    } else {
      app.io.err(formatError(error))
      if (location) app.io.err(sourceExcerpt(code, relative(app.io.cwd, path) || script, location))
    }
    return EXIT.error
  }
}
