/**
 * The engine's error family (SPEC §8). Every error has a string `code`, a `type` (the class that decides the
 * failure policy), `retryable`, and data fields. A `Symbol.for('ledgerflow.engine-error')` marker makes
 * {@link EngineError.isInstance} work across duplicate installs. Anything persisted or crossing the sandbox is
 * plain data: {@link serializeError} / {@link deserializeError}.
 */

const MARKER = Symbol.for('ledgerflow.engine-error')

/** Error classes. `indeterminate` is for a mutation whose outcome is unknown. */
export type ErrorType = 'auth' | 'permission' | 'network' | 'logic' | 'internal' | 'indeterminate'

/** Options common to every engine error. */
export interface EngineErrorOptions {
  cause?: unknown
  /** Extra plain data (kept when serialized). */
  details?: Record<string, unknown>
  /**
   * For errors thrown by a mutation tool: `true` when the tool knows the external effect did NOT happen, so the
   * ledger row can be marked `failed` rather than unknown.
   */
  notApplied?: boolean
}

/** Base class of every engine error. */
export class EngineError extends Error {
  readonly [MARKER] = true
  readonly code: string
  readonly type: ErrorType
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined
  readonly notApplied: boolean

  constructor(code: string, type: ErrorType, message: string, options: EngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.type = type
    this.retryable = type === 'network'
    this.details = options.details
    this.notApplied = options.notApplied ?? (type === 'logic' || type === 'internal')
  }

  /** True for any engine error, even one from another copy of this package. */
  static isInstance(error: unknown): error is EngineError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true
  }
}

/** Credentials are missing, expired or revoked: a person must reconnect. The run pauses. */
export class AuthError extends EngineError {
  constructor(message: string, options: EngineErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'auth_failed', 'auth', message, options)
  }
}

/** The credentials work but lack a right: a person must grant it. The run pauses. */
export class PermissionError extends EngineError {
  constructor(message: string, options: EngineErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'permission_denied', 'permission', message, options)
  }
}

/** A transient failure (timeout, connection, 5xx, 429): retried with backoff. */
export class NetworkError extends EngineError {
  constructor(message: string, options: EngineErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'network_error', 'network', message, options)
  }
}

/** The script (or its input) is wrong: needs a fix. */
export class LogicError extends EngineError {
  constructor(message: string, options: EngineErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'logic_error', 'logic', message, options)
  }
}

/** An engine or database fault. */
export class InternalError extends EngineError {
  constructor(message: string, options: EngineErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'internal_error', 'internal', message, options)
  }
}

/** A script failed validation at deploy time; the message is the validator's, whole. */
export class WorkflowValidationError extends EngineError {
  constructor(
    message: string,
    readonly location?: { line: number; column: number },
    options: EngineErrorOptions = {},
  ) {
    super('workflow_invalid', 'logic', message, options)
  }
}

/** A workflow cannot run a session: missing, not active, or without an active script. No session row is written. */
export class WorkflowNotRunnableError extends EngineError {
  constructor(
    readonly workflowId: string,
    readonly reason: 'not_found' | 'not_active' | 'no_active_script',
    message: string,
  ) {
    super(`workflow_${reason}`, 'logic', message)
  }
}

/** A session is already open for the workflow. */
export class SessionBusyError extends EngineError {
  constructor(
    readonly workflowId: string,
    readonly openSessionId: string | undefined,
  ) {
    super(
      'session_busy',
      'logic',
      `Workflow '${workflowId}' already has an open session${openSessionId ? ` (${openSessionId})` : ''}`,
    )
  }
}

/** An operator action is not possible in the current state (for example resolving an applied mutation). */
export class IllegalStateError extends EngineError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('illegal_state', 'logic', message, { details })
  }
}

/** A named entity does not exist. */
export class NotFoundError extends EngineError {
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity}_not_found`, 'logic', `${entity} '${id}' not found`)
  }
}

/** Plain-data form of an error, as stored in JSON columns and passed across boundaries. */
export interface SerializedError {
  name: string
  message: string
  code: string
  type: ErrorType
  retryable: boolean
  notApplied?: boolean
  details?: Record<string, unknown>
}

const ERROR_TYPES: readonly ErrorType[] = ['auth', 'permission', 'network', 'logic', 'internal', 'indeterminate']

/** True when `value` is one of the error class names. */
export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && (ERROR_TYPES as readonly string[]).includes(value)
}

/**
 * Classifies anything thrown. Engine errors keep their class; an error carrying a string `type` that is an
 * error class keeps it (duck-typed, e.g. from another library); everything else is `internal` — unknown errors are
 * never guessed from their message.
 */
export function toEngineError(error: unknown): EngineError {
  if (EngineError.isInstance(error)) return error
  if (error instanceof Error) {
    const e = error as Error & { type?: unknown; code?: unknown; notApplied?: unknown }
    const type = isErrorType(e.type) ? e.type : 'internal'
    const code = typeof e.code === 'string' ? e.code : type === 'internal' ? 'internal_error' : `${type}_error`
    return new EngineError(code, type, e.message, { cause: error, notApplied: e.notApplied === true || undefined })
  }
  return new InternalError(`Non-error value thrown: ${describe(error)}`, { cause: error })
}

function describe(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? value)
  } catch {
    return String(value)
  }
}

/** The plain-data form of any error. */
export function serializeError(error: unknown): SerializedError {
  const e = toEngineError(error)
  return {
    name: e.name,
    message: e.message,
    code: e.code,
    type: e.type,
    retryable: e.retryable,
    ...(e.notApplied ? { notApplied: true } : {}),
    ...(e.details ? { details: e.details } : {}),
  }
}

/** Rebuilds an {@link EngineError} from its plain-data form. */
export function deserializeError(data: SerializedError): EngineError {
  const e = new EngineError(data.code, data.type, data.message, { details: data.details, notApplied: data.notApplied })
  e.name = data.name
  return e
}
