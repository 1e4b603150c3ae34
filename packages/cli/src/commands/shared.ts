/** Helpers shared by commands: JSON output, option parsing, exit codes. */
import type { SessionResult } from '@ledgerflow/agent'
import { NotFoundError } from '@ledgerflow/agent'
import type { LedgerflowDb, Workflow } from '@ledgerflow/db'
import { z } from 'zod'
import { CliError } from '../errors.js'
import type { CliIo } from '../io.js'

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, error: 1, suspended: 2, interrupted: 130 } as const

/** The exit code of a session result: 0 completed, 1 failed, 2 suspended. Pure. */
export function exitCodeOf(result: SessionResult): number {
  return result.status === 'completed' ? EXIT.ok : result.status === 'failed' ? EXIT.error : EXIT.suspended
}

/** Writes one JSON document. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`)
}

/** Parses an option that holds JSON text (throws `CliError` `invalid_json`). */
export function parseJsonOption(text: string | undefined, option: string): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CliError('invalid_json', `${option} is not valid JSON: ${(error as Error).message}`)
  }
}

const positiveInt = z.coerce.number().int().positive()

/** Parses a positive integer option (throws `CliError` `invalid_option`). */
export function parsePositiveInt(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined
  const parsed = positiveInt.safeParse(text)
  if (!parsed.success) throw new CliError('invalid_option', `${option} must be a positive integer, got '${text}'`)
  return parsed.data
}

/** Parses a status filter against its allowed values. */
export function parseChoice<T extends string>(text: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (text === undefined) return undefined
  if (!(allowed as readonly string[]).includes(text)) throw new CliError('invalid_option', `${option} must be one of ${allowed.join(', ')}; got '${text}'`)
  return text as T
}

/** The workflow, or the engine's `workflow_not_found` error. */
export async function getWorkflow(db: LedgerflowDb, workflowId: string): Promise<Workflow> {
  const workflow = await db.workflows.get(workflowId)
  if (!workflow) throw new NotFoundError('workflow', workflowId)
  return workflow
}

/** Parses a JSON column for `--json` output (text that is not JSON stays text). Pure. */
export function jsonColumn(text: string | null): unknown {
  if (text === null) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
