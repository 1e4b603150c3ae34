/**
 * CLI errors and how every error is shown: one line, `error: <code>: <message>`, never a stack trace for a user
 * error. Engine and database errors keep their own codes; anything unclassified is `internal_error` (its stack is
 * shown only with `DEBUG=ledgerflow:*`).
 */
import { EngineError } from '@ledgerflow/agent'
import { DbError } from '@ledgerflow/db'

/** A mistake in how the CLI was called (bad option value, missing file): exit 1, no stack. */
export class CliError extends Error {
  readonly code: string
  readonly exitCode: number
  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CliError'
    this.code = code
    this.exitCode = options.exitCode ?? 1
  }
}

/** The code, class and message of any error, as the CLI reports it. */
export function describeError(error: unknown): { code: string; type: string; message: string; internal: boolean } {
  if (error instanceof CliError) return { code: error.code, type: 'usage', message: error.message, internal: false }
  if (EngineError.isInstance(error)) return { code: error.code, type: error.type, message: error.message, internal: error.type === 'internal' }
  if (DbError.isInstance(error)) return { code: error.code, type: error.type, message: error.message, internal: false }
  const e = error as { code?: unknown; message?: unknown } | undefined
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // A file-system or network error of the host (ENOENT, EACCES, ECONNREFUSED...): the user can act on it.
    return { code: e.code.toLowerCase(), type: 'host', message: String(e.message), internal: false }
  }
  return { code: 'internal_error', type: 'internal', message: error instanceof Error ? error.message : String(error), internal: true }
}

/** The one-line form of an error (plus the stack of unexpected ones when `DEBUG` names ledgerflow). */
export function formatError(error: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const d = describeError(error)
  const line = `error: ${d.code}: ${d.message.split('\n')[0]}\n`
  const rest = d.message.includes('\n') ? `${d.message.split('\n').slice(1).join('\n')}\n` : ''
  const debug = d.internal && /ledgerflow/.test(env.DEBUG ?? '') && error instanceof Error && error.stack ? `${error.stack}\n` : ''
  return line + rest + debug
}
