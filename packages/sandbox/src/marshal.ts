/**
 * Guest → host marshalling of thrown values: the guest prelude describes what was thrown as JSON, and these pure
 * functions turn that description into {@link SandboxErrorData} (positions in `workflow.js`, trusted host errors).
 */
import { limitError, sandboxErrorData } from './errors.js'
import type { HostErrorData, SandboxErrorData, SourcePosition } from './types.js'

/** The file name the user's script is loaded under. */
export const SCRIPT_FILE = 'workflow.js'

/**
 * What the guest prelude reports about a thrown value: an error (`syntax` marks a parse error of `workflow.js`
 * itself; `host` is the id of the failed host call the error was created for, from a guest-private WeakMap), or
 * another value described by its type and text.
 */
export type GuestThrown =
  | { k: 'error'; name: string; message: string; stack: string; syntax: boolean; host?: number }
  | { k: 'value'; type: string; text: string }

/**
 * Pure; parses the guest's description of a thrown value, `undefined` when it is not one. Checked by hand, keeping
 * only the known fields: this runs in the sandbox worker threads, whose every garbage collection marks the whole
 * heap, and zod would add about 3 MB to it.
 */
export function parseGuestThrown(json: string): GuestThrown | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const r = raw as Record<string, unknown>
  const str = (key: string) => typeof r[key] === 'string'
  if (r.k === 'value') return str('type') && str('text') ? { k: 'value', type: r.type as string, text: r.text as string } : undefined
  if (r.k !== 'error' || !str('name') || !str('message') || !str('stack') || typeof r.syntax !== 'boolean') return undefined
  const thrown: GuestThrown = { k: 'error', name: r.name as string, message: r.message as string, stack: r.stack as string, syntax: r.syntax }
  if (r.host !== undefined) {
    if (!Number.isInteger(r.host)) return undefined
    thrown.host = r.host as number
  }
  return thrown
}

const FRAME_POSITION = /workflow\.js:(\d+):(\d+)/

/** Pure; keeps only the stack lines that point into `workflow.js`. */
export function workflowFrames(stack: string): string {
  return stack
    .split('\n')
    .filter((line) => line.includes(`${SCRIPT_FILE}:`))
    .map((line) => line.trimEnd())
    .join('\n')
}

/**
 * Pure; the first `workflow.js:LINE:COL` of a guest stack. `maxLine` clamps positions that fall into the glue
 * appended after the user's source (an unterminated script fails at the end of the appended text).
 */
export function firstWorkflowPosition(stack: string, maxLine?: number): SourcePosition | undefined {
  const match = FRAME_POSITION.exec(stack)
  if (match === null) return undefined
  const line = Number(match[1])
  const column = Number(match[2])
  if (maxLine !== undefined && line > maxLine) return { line: maxLine, column: 1 }
  return { line, column }
}

const ARTICLES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  bigint: 'a bigint',
  symbol: 'a symbol',
  function: 'a function',
  array: 'an array',
  object: 'an object',
}

/** Pure; the message for a thrown value that is not an Error, e.g. `Script threw a string: "boom"`. */
export function thrownValueMessage(type: string, text: string): string {
  if (type === 'undefined' || type === 'null') return `Script threw ${type}`
  const what = ARTICLES[type] ?? `a ${type}`
  const shown = type === 'string' ? JSON.stringify(text) : text
  return `Script threw ${what}: ${shown}`
}

/** What {@link classifyThrown} needs to know about the evaluation. */
export interface ClassifyContext {
  /** Failed host calls of this evaluation, by id: the trusted source of host error classification. */
  failedCalls: ReadonlyMap<number, HostErrorData>
  /** `load` while the script's top level runs: only then can a SyntaxError be a parse error of the script. */
  phase: 'load' | 'run'
  /** Number of lines of the user's script, to clamp positions that point into appended glue. */
  scriptLines: number
}

/** Pure; classifies a thrown value the guest described. */
export function classifyThrown(thrown: GuestThrown, context: ClassifyContext): SandboxErrorData {
  if (thrown.k === 'value') {
    return sandboxErrorData({ code: 'script_error', name: 'ThrownValue', message: thrownValueMessage(thrown.type, thrown.text) })
  }
  const location = firstWorkflowPosition(thrown.stack, context.scriptLines)
  const stack = workflowFrames(thrown.stack)
  const hostError = thrown.host === undefined ? undefined : context.failedCalls.get(thrown.host)
  if (hostError !== undefined) {
    return sandboxErrorData({
      code: 'script_error',
      type: hostError.type ?? 'logic',
      name: hostError.name,
      message: hostError.message,
      location,
      stack,
      hostError: { ...hostError },
    })
  }
  if (thrown.name === 'InternalError' && thrown.message === 'out of memory') {
    return limitError('sandbox_memory', 'The script ran out of memory', location)
  }
  if (thrown.name === 'InternalError' && thrown.message === 'interrupted') {
    // The sandbox's own interrupts end the evaluation before the error is looked at; an interrupt nobody asked
    // for comes from quickjs-emscripten's callback glue failing, in practice because the host stack overflowed.
    return limitError('sandbox_stack_overflow', 'The script was stopped by a host-side fault, most likely a host stack overflow (too much recursion)', location)
  }
  if (thrown.name === 'InternalError' && thrown.message === 'stack overflow') {
    return limitError('sandbox_stack_overflow', 'The script overflowed its stack (too much recursion)', location)
  }
  const code = thrown.syntax && context.phase === 'load' ? 'syntax_error' : 'script_error'
  return sandboxErrorData({ code, name: thrown.name || 'Error', message: thrown.message, location, stack })
}

/**
 * Pure; cuts `text` to at most `maxBytes` UTF-8 bytes (never inside a character), appending `marker` when cut.
 * The marker is counted in the budget.
 */
export function truncateUtf8(text: string, maxBytes: number, marker: string): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text, 'utf8') <= maxBytes) return text
  const budget = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'))
  const bytes = Buffer.from(text, 'utf8')
  let end = budget
  // Step back over UTF-8 continuation bytes (10xxxxxx) so a multi-byte character is never split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8') + marker
}
