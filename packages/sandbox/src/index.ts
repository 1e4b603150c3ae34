/**
 * Isolated execution of untrusted ledgerflow workflow scripts in QuickJS compiled to WebAssembly.
 *
 * - {@link createSandboxRunner} evaluates one handler phase per call, each in a fresh instance with its own bounded
 *   `WebAssembly.Memory`, a CPU budget enforced by an interrupt handler, a wall-clock budget, stack, host-call and
 *   payload caps. Tools are globals (`await Email.send({...})`) backed by one host primitive; values cross as JSON;
 *   errors come back as plain data with `workflow.js` line and column. `evaluate()` never throws for script faults.
 *   With `threads`, evaluations run in worker threads that keep never-used instances ready (restored from an image of
 *   a never-used instance) while the calling thread does other work; host calls are proxied back to it. With
 *   `callerPool` as well, the calling thread keeps instances of its own, loaded only while the process is quiet, and
 *   takes the next evaluation itself when the script is loaded there (an idle process skips the hand-offs). With
 *   `recycle` (opt-in), a pool resets an instance whose evaluation ended normally in place (its whole memory zeroed
 *   and the image written, byte for byte a never-used instance) instead of creating a new one: several times cheaper,
 *   but it reuses the WebAssembly instance object, which SPEC §4 does not allow by default. A pooled runner also
 *   loads a script evaluated twice in a row ahead of its next evaluation (`preload`, on by default): the top-level
 *   code runs in the next never-used instance while the thread is idle, and that evaluation starts at its handler.
 *   Once a script was evaluated three times on a thread, the bytes its load left in the instance (a *script image*)
 *   are written into later instances instead of compiling and running the top level again, when two loads showed
 *   that it read no clock, drew no random number and left the same bytes (see `script-image.ts`).
 * - {@link validateWorkflowScript} runs a script's top level with every tool throwing and checks its `workflow`
 *   object against SPEC §2, returning the handler config or one whole message naming the handler and field.
 * - {@link parseInterval} turns producer intervals (`"30s"`, `"5m"`, `"2h"`, `"1d"`) into milliseconds.
 *
 * ### Examples
 * ```ts
 * import { createSandboxRunner, validateWorkflowScript } from '@ledgerflow/sandbox'
 *
 * const checked = await validateWorkflowScript(code, { globals: { Email: ['send'] } })
 * if (!checked.ok) throw new Error(checked.error.message)
 *
 * const runner = createSandboxRunner({ limits: { timeoutMs: 1000 }, pool: { size: 2 } })
 * const outcome = await runner.evaluate({
 *   code,
 *   scriptKey: scriptId,
 *   handler: { group: 'consumers', name: 'reply', method: 'prepare' },
 *   args: [state],
 *   globals: { Topics: ['peek', 'getByIds'], Email: ['send'] },
 *   host: (call) => tools.execute(call.namespace, call.method, call.input),
 *   onConsole: (level, message) => logs.push({ level, message }),
 * })
 * await runner.close()
 * ```
 *
 * @module @ledgerflow/sandbox
 */
export type * from './types.js'
export { createSandboxRunner, type SandboxRunnerOptions } from './create-sandbox-runner.js'
export { validateWorkflowScript, TOPICS_METHODS, type ValidateWorkflowOptions } from './validate-workflow-script.js'
export { parseInterval, MIN_INTERVAL_MS } from './schedule.js'
export { DEFAULT_LIMITS, resolveLimits } from './limits.js'
export { SandboxError, isErrorType, toHostErrorData } from './errors.js'
