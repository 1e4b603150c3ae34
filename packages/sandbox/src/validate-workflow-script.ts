/**
 * `validateWorkflowScript`: run a script's top level in the sandbox with every tool throwing, describe its
 * `workflow` object, and check the rules of SPEC §2.
 */
import { runPlan } from './run-plan.js'
import { checkGlobals, type EvaluationPlan } from './evaluation-plan.js'
import { resolveLimits } from './limits.js'
import { checkWorkflow } from './check-workflow.js'
import { SCRIPT_FILE } from './marshal.js'
import type { HostCall, SandboxErrorData, SandboxLimits, SourcePosition, ValidationResult } from './types.js'
import { workflowDescriptionSchema } from './workflow-description.js'

/** Options of {@link validateWorkflowScript}. */
export interface ValidateWorkflowOptions {
  /** Tool namespaces the script may use, with their methods; `Topics` (peek, getByIds, publish) is always added. */
  globals?: Readonly<Record<string, readonly string[]>>
  /** Limits of the validation run; defaults are 5 s of CPU and wall time and the default memory limit. */
  limits?: Partial<SandboxLimits>
}

/** The built-in `Topics` tool every workflow sees. */
export const TOPICS_METHODS: readonly string[] = ['peek', 'getByIds', 'publish']

const at = (location: SourcePosition | undefined): string =>
  location === undefined ? '' : ` at ${SCRIPT_FILE}:${location.line}:${location.column}`

function fromSandbox(error: SandboxErrorData): ValidationResult {
  const thrown = error.code === 'syntax_error' || error.code === 'script_error'
  const message = thrown ? `${error.name}: ${error.message}${at(error.location)}` : error.message
  return { ok: false, error: { code: error.code, message, ...(error.location === undefined ? {} : { location: error.location }) } }
}

function toolCalledAtTopLevel(call: HostCall): ValidationResult {
  const message = `Top-level code calls ${call.namespace}.${call.method}${at(call.callSite)}: tools can only be called inside handlers`
  return { ok: false, error: { code: 'script_error', message, ...(call.callSite === undefined ? {} : { location: call.callSite }) } }
}

/**
 * Validates a workflow script: evaluates it in a sandbox where every tool call throws (bounded by 5 s and the
 * memory limit), then checks the `workflow` object against SPEC §2 in the spec's order. Never throws for anything
 * the script does; throws a `RangeError` only for invalid `options.limits`.
 *
 * ### Examples
 * ```ts
 * const result = await validateWorkflowScript(code, { globals: { Email: ['send'] } })
 * if (result.ok) save(result.config, result.warnings)
 * else console.error(result.error.message) // "Consumer 'reply': subscribes to undeclared topic 'email.recieved'"
 * ```
 */
export async function validateWorkflowScript(code: string, options: ValidateWorkflowOptions = {}): Promise<ValidationResult> {
  const limits = resolveLimits({ timeoutMs: 5000, wallTimeoutMs: 5000 }, options.limits)
  if (typeof code !== 'string') return { ok: false, error: { code: 'invalid_workflow', message: 'The script must be a string' } }
  const topics = options.globals?.Topics ?? []
  const checked = checkGlobals({ ...options.globals, Topics: [...new Set([...TOPICS_METHODS, ...topics])] })
  if (!checked.ok) return { ok: false, error: { code: checked.error.code, message: checked.error.message } }
  const calls: HostCall[] = []
  const plan: EvaluationPlan = {
    code,
    entry: { kind: 'describe' },
    globals: checked.globals,
    host: (call) => {
      calls.push(call)
      const error = new Error(`${call.namespace}.${call.method} cannot be called while the script is validated: tools can only be called inside handlers`)
      return Promise.reject(Object.assign(error, { name: 'ValidationError', type: 'logic' }))
    },
    limits,
  }
  const outcome = await runPlan(plan)
  const firstCall = calls[0]
  if (firstCall !== undefined) return toolCalledAtTopLevel(firstCall)
  if (!outcome.ok) return fromSandbox(outcome.error)
  const description = workflowDescriptionSchema.safeParse(outcome.value)
  if (!description.success) {
    return { ok: false, error: { code: 'sandbox_internal', message: 'The sandbox described the workflow in an unexpected shape' } }
  }
  return checkWorkflow(description.data)
}
