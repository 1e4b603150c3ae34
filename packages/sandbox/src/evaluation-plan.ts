/**
 * Checks an {@link EvaluationRequest} before any instance is created and turns it into an {@link EvaluationPlan}.
 */
import { limitError } from './errors.js'
import type { HostReply } from './host-calls.js'
import { resolveLimits } from './limits.js'
import type {
  ConsoleLevel,
  EvaluationRequest,
  HandlerRef,
  HostCall,
  HostCallHandler,
  SandboxErrorData,
  SandboxLimits,
} from './types.js'

/** Names of handlers, tool namespaces and tool methods. */
export const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** What the guest is asked to do after the script loaded. */
export type EvaluationEntry =
  | { kind: 'handler'; handler: HandlerRef; argsJson: string }
  /** Validation: describe the `workflow` object as JSON instead of calling a handler. */
  | { kind: 'describe' }

/** A checked evaluation request. */
export interface EvaluationPlan {
  code: string
  entry: EvaluationEntry
  /** Tool namespaces and their methods, in a stable order. */
  globals: GlobalEntries
  host: HostCallHandler
  /** Answers host calls instead of `host` (a worker thread forwards them to the thread that owns `host`). */
  reply?: ((call: HostCall) => Promise<HostReply>) | undefined
  onConsole?: ((level: ConsoleLevel, message: string) => void) | undefined
  limits: SandboxLimits
  signal?: AbortSignal | undefined
  /**
   * Read by the interrupt handler while guest code runs: a worker thread cannot receive the calling thread's abort
   * message until the guest yields, so the calling thread also raises a shared flag.
   */
  isAborted?: (() => boolean) | undefined
}

/** Either a plan or the reason the request cannot run. */
export type PlanResult = { ok: true; plan: EvaluationPlan } | { ok: false; error: SandboxErrorData }

/** Tool namespaces as entries, in a stable order. */
export type GlobalEntries = ReadonlyArray<readonly [string, readonly string[]]>

function internal(message: string): { ok: false; error: SandboxErrorData } {
  return { ok: false, error: limitError('sandbox_internal', message) }
}

/** Pure; checks `globals`: identifier names, no `console`, methods deduplicated. */
export function checkGlobals(
  globals: EvaluationRequest['globals'],
): { ok: true; globals: GlobalEntries } | { ok: false; error: SandboxErrorData } {
  if (typeof globals !== 'object' || globals === null) return internal('globals must be an object of tool namespaces')
  const entries: Array<readonly [string, readonly string[]]> = []
  for (const [namespace, methods] of Object.entries(globals)) {
    if (!IDENTIFIER.test(namespace) || namespace === 'console') {
      return internal(`Tool namespace '${namespace}' is not allowed (it must be an identifier other than console)`)
    }
    if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string' && IDENTIFIER.test(m))) {
      return internal(`Methods of tool namespace '${namespace}' must be an array of identifiers`)
    }
    entries.push([namespace, [...new Set(methods)]])
  }
  return { ok: true, globals: entries }
}

/** Pure apart from `JSON.stringify` of the arguments; never throws. */
export function planEvaluation(request: EvaluationRequest, runnerLimits: SandboxLimits): PlanResult {
  let limits: SandboxLimits
  try {
    limits = resolveLimits(runnerLimits, request.limits)
  } catch (error) {
    return internal((error as Error).message)
  }
  if (typeof request.code !== 'string') return internal('code must be a string')
  if (typeof request.host !== 'function') return internal('host must be a function')
  const { group, name, method } = request.handler ?? {}
  if (group !== 'producers' && group !== 'consumers') {
    return { ok: false, error: limitError('handler_not_found', `Handler group must be producers or consumers, got ${String(group)}`) }
  }
  for (const [what, value] of [['name', name], ['method', method]] as const) {
    if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
      return { ok: false, error: limitError('handler_not_found', `Handler ${what} ${JSON.stringify(value)} is not a valid identifier`) }
    }
  }
  const checked = checkGlobals(request.globals)
  if (!checked.ok) return checked
  if (!Array.isArray(request.args)) return internal('args must be an array of JSON values')
  let argsJson: string | undefined
  try {
    argsJson = JSON.stringify(request.args)
  } catch (error) {
    return internal(`args are not JSON: ${(error as Error).message}`)
  }
  // Handler arguments are a previous result plus, for `next`, a tool result: each is capped on its own.
  const maxArgs = limits.maxResultBytes + limits.maxArgumentBytes
  if (Buffer.byteLength(argsJson, 'utf8') > maxArgs) {
    return { ok: false, error: limitError('argument_too_large', `The handler arguments are larger than ${maxArgs} bytes`) }
  }
  const handler: HandlerRef = { group, name: name as string, method: method as string }
  return {
    ok: true,
    plan: {
      code: request.code,
      entry: { kind: 'handler', handler, argsJson },
      globals: checked.globals,
      host: request.host,
      onConsole: request.onConsole,
      limits,
      signal: request.signal,
    },
  }
}
