/**
 * The sandbox's error class and the plain-data helpers that classify errors crossing the boundary.
 */
import type { ErrorType, HostErrorData, SandboxErrorCode, SandboxErrorData, SourcePosition } from './types.js'

const MARKER = Symbol.for('ledgerflow.sandbox-error')
const ERROR_TYPES: ReadonlySet<string> = new Set<ErrorType>(['auth', 'permission', 'network', 'logic', 'internal'])

/** Pure; tells whether `value` is one of the error classes of SPEC §8. */
export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && ERROR_TYPES.has(value)
}

/**
 * A failed evaluation as an `Error`, for callers that prefer throwing. The runner itself returns
 * {@link SandboxErrorData}; `new SandboxError(outcome.error)` turns it into an exception.
 *
 * ### Examples
 * ```ts
 * const outcome = await runner.evaluate(request)
 * if (!outcome.ok) throw new SandboxError(outcome.error)
 * ```
 */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode
  readonly type: ErrorType
  readonly location?: SourcePosition
  /** The guest stack (only `workflow.js` frames); the host stack of this object is separate. */
  readonly guestStack?: string
  readonly hostError?: HostErrorData

  constructor(data: SandboxErrorData) {
    super(data.message)
    Object.defineProperty(this, MARKER, { value: true })
    this.name = data.name
    this.code = data.code
    this.type = data.type
    if (data.location !== undefined) this.location = { ...data.location }
    if (data.stack !== undefined) this.guestStack = data.stack
    if (data.hostError !== undefined) this.hostError = { ...data.hostError }
  }

  /** Tells whether `value` is a `SandboxError`, also across duplicate installs of this package. */
  static isInstance(value: unknown): value is SandboxError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true
  }

  /** The plain data of this error (what the runner returns and what may be persisted). */
  toJSON(): SandboxErrorData {
    return sandboxErrorData({
      code: this.code,
      type: this.type,
      name: this.name,
      message: this.message,
      location: this.location,
      stack: this.guestStack,
      hostError: this.hostError,
    })
  }
}

/** Fields of {@link sandboxErrorData}; optional ones may be `undefined`. */
export interface SandboxErrorFields {
  code: SandboxErrorCode
  type?: ErrorType | undefined
  name: string
  message: string
  location?: SourcePosition | undefined
  stack?: string | undefined
  hostError?: HostErrorData | undefined
}

/** Pure; builds {@link SandboxErrorData} without `undefined` fields; `type` defaults from the code. */
export function sandboxErrorData(fields: SandboxErrorFields): SandboxErrorData {
  const data: SandboxErrorData = {
    code: fields.code,
    type: fields.type ?? (fields.code === 'sandbox_internal' ? 'internal' : 'logic'),
    name: fields.name,
    message: fields.message,
  }
  if (fields.location !== undefined) data.location = fields.location
  if (fields.stack !== undefined && fields.stack !== '') data.stack = fields.stack
  if (fields.hostError !== undefined) data.hostError = fields.hostError
  return data
}

/** Names reported for limit violations and sandbox faults. */
const LIMIT_NAMES: Partial<Record<SandboxErrorCode, string>> = {
  sandbox_timeout: 'TimeoutError',
  sandbox_wall_timeout: 'TimeoutError',
  sandbox_memory: 'OutOfMemoryError',
  sandbox_stack_overflow: 'StackOverflowError',
  host_call_limit: 'LimitError',
  argument_too_large: 'LimitError',
  result_too_large: 'LimitError',
  result_not_json: 'TypeError',
  handler_not_found: 'HandlerNotFoundError',
  aborted: 'AbortError',
  sandbox_internal: 'SandboxInternalError',
}

/** Pure; the error data of a limit violation or sandbox fault (not thrown by the script itself). */
export function limitError(code: SandboxErrorCode, message: string, location?: SourcePosition): SandboxErrorData {
  return sandboxErrorData({ code, name: LIMIT_NAMES[code] ?? 'Error', message, location })
}

function ownString(value: object, key: string): string | undefined {
  try {
    const field = (value as Record<string, unknown>)[key]
    return typeof field === 'string' ? field : undefined
  } catch {
    return undefined
  }
}

/**
 * Reduces anything a host tool threw to plain data `{ name, message, code?, type? }`: string `code` and a valid
 * `type` are read from the error's own fields, anything else is dropped. Host stacks never cross.
 */
export function toHostErrorData(error: unknown): HostErrorData {
  if (typeof error !== 'object' || error === null) {
    return { name: 'Error', message: typeof error === 'string' ? error : `Host call failed: ${String(error)}` }
  }
  const data: HostErrorData = { name: ownString(error, 'name') || 'Error', message: ownString(error, 'message') ?? '' }
  const code = ownString(error, 'code')
  if (code !== undefined) data.code = code
  const type = ownString(error, 'type')
  if (isErrorType(type)) data.type = type
  return data
}
