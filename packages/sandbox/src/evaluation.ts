/**
 * One evaluation on one prepared instance: install the tools, load the script as `workflow.js`, call the handler
 * (or describe the workflow), drive promise jobs as host calls settle, enforce the limits, and return the outcome.
 * Entering the guest, and how failures end the evaluation and are classified, is in its base class, `GuestSession`
 * (`guest-session.ts`).
 */
import type { QuickJSHandle } from 'quickjs-emscripten-core'
import { abortedError, wallTimeoutError } from './budget.js'
import { limitError } from './errors.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import { installGuestApi, isGuestApi, type EnterGuest, type GuestApi } from './guest-api.js'
import { GuestSession } from './guest-session.js'
import { GuestKilled } from './instance-guard.js'
import { SCRIPT_FILE, truncateUtf8 } from './marshal.js'
import { memoryError } from './outcome.js'
import { SCRIPT_GLUE } from './prelude.js'
import type { InstanceBinding, PreparedInstance } from './quickjs-instance.js'
import type { ConsoleLevel, EvaluationOutcome, SandboxErrorData } from './types.js'

const CONSOLE_LEVELS: ReadonlySet<string> = new Set<ConsoleLevel>(['log', 'info', 'warn', 'error'])
const TRUNCATED = ' …[truncated]'

/**
 * Guest CPU time a preload may spend in the script's top-level code. A preload runs while no evaluation does, but an
 * evaluation that arrives meanwhile waits for it; a script whose top level runs longer is loaded by its evaluation.
 */
export const PRELOAD_CPU_MS = 20

/**
 * A never-used instance in which a script's top-level code already ran (see {@link Evaluation.preload}), for the next
 * evaluation of the same script with the same tools and limits. @internal
 */
export interface Preloaded {
  instance: PreparedInstance
  api: GuestApi | undefined
  workflow: QuickJSHandle | undefined
  /** Console lines of the top-level code, in order, replayed to the evaluation that takes the preload. */
  logs: Array<readonly [ConsoleLevel, string]>
  /** Guest CPU time of the top-level code: it counts against the evaluation's CPU limit. */
  guestMs: number
  /** How loading ended, when it failed (a syntax error, a throw, a limit): the evaluation reports it. */
  failure: SandboxErrorData | undefined
}

/** Runs one plan on one instance; `execute()` is called once and never throws for anything the guest does. */
export class Evaluation extends GuestSession implements InstanceBinding {
  /** Set while this evaluation only preloads: the guest asked for something only a request can answer. */
  private unpreloadable = false

  constructor(
    instance: PreparedInstance | undefined,
    plan: EvaluationPlan,
    /** The script already loaded in `instance` (see {@link Evaluation.preload}); `instance` is its instance. */
    private readonly preloaded?: Preloaded,
    private readonly mode: 'evaluate' | 'preload' = 'evaluate',
  ) {
    super(instance, plan)
  }

  /**
   * Loads `plan`'s script in `instance` ahead of a request: installs the tools and runs the top-level code, with
   * console lines kept and guest CPU time counted, and stops before any handler runs. The evaluation that takes the
   * result (`new Evaluation(preloaded.instance, plan, preloaded)`) goes on from there exactly as if it had loaded the
   * script itself. `undefined` when the top level needs what only a request gives (a tool call) or runs longer than
   * `maxCpuMs` ({@link PRELOAD_CPU_MS} by default; below its CPU limit): the instance is then spent, and the caller
   * gives it back.
   */
  static preload(instance: PreparedInstance, plan: EvaluationPlan, maxCpuMs = PRELOAD_CPU_MS): Preloaded | undefined {
    const logs: Array<readonly [ConsoleLevel, string]> = []
    const capped = { ...plan.limits, timeoutMs: Math.min(plan.limits.timeoutMs, maxCpuMs) }
    const onConsole = (level: ConsoleLevel, message: string) => logs.push([level, message])
    const loader = new Evaluation(instance, { ...plan, limits: capped, onConsole, signal: undefined, isAborted: undefined }, undefined, 'preload')
    return loader.preloadScript(logs, capped.timeoutMs < plan.limits.timeoutMs)
  }

  private preloadScript(logs: Preloaded['logs'], capped: boolean): Preloaded | undefined {
    const instance = this.instance as PreparedInstance
    instance.binding = this
    // From here on something runs in the instance: no script image may be written into it.
    instance.image = undefined
    try {
      instance.runtime.setMaxStackSize(this.plan.limits.maxStackBytes)
      this.install()
      this.load()
    } catch (error) {
      this.onHostException(instance, error)
    }
    instance.binding = undefined
    // The cap is enforced where QuickJS calls the interrupt handler; a top level that went past it between two calls
    // (the thread descheduled in its last stretch) also overran.
    const overran = capped && (this.failure?.code === 'sandbox_timeout' || this.budget.guestTime() > this.plan.limits.timeoutMs)
    if (this.unpreloadable || overran) {
      this.finished = true
      this.release()
      return undefined
    }
    // The instance and the guest handles now belong to the evaluation that takes the preload.
    this.instance = undefined
    return { instance, api: this.api, workflow: this.workflow, logs, guestMs: this.budget.guestTime(), failure: this.failure }
  }

  /** Runs the evaluation to its outcome. The caller disposes the instance afterwards. */
  async execute(): Promise<EvaluationOutcome> {
    const instance = this.instance
    if (instance === undefined) throw new Error('An Evaluation runs once')
    instance.binding = this
    // From here on something runs in the instance: no script image may be written into it.
    instance.image = undefined
    const { signal, limits } = this.plan
    const onAbort = () => this.fail(abortedError())
    signal?.addEventListener('abort', onAbort, { once: true })
    const wall = setTimeout(() => this.fail(wallTimeoutError(limits)), limits.wallTimeoutMs)
    try {
      if (signal?.aborted) onAbort()
      instance.runtime.setMaxStackSize(limits.maxStackBytes)
      if (this.preloaded !== undefined) this.adopt(this.preloaded)
      else {
        this.install()
        this.load()
      }
      this.enter()
      if (this.failure === undefined && this.settled === undefined) await this.done
      return this.outcome()
    } catch (error) {
      // Host-side work outside a guest entry failed (an allocation in an exhausted instance, a library fault).
      this.onHostException(instance, error)
      return this.outcome()
    } finally {
      this.finished = true
      clearTimeout(wall)
      signal?.removeEventListener('abort', onAbort)
      this.release()
    }
  }

  shouldInterrupt(): boolean {
    // Once anything ended the evaluation, every further poll interrupts: a guest that catches and retries stops.
    if (this.failure !== undefined || this.settled !== undefined || this.finished) return true
    const exceeded = this.budget.exceeded()
    if (exceeded !== undefined) this.fail(exceeded)
    return exceeded !== undefined
  }

  hostCall(args: QuickJSHandle[]): void {
    if (!this.accepting()) return
    if (this.mode === 'preload') {
      // Only a request can answer a tool call: the preload stops here and its instance is never used.
      this.unpreloadable = true
      return this.fail(limitError('sandbox_internal', 'A tool call in top-level code cannot be preloaded'))
    }
    this.calls.start(this.context(), args, this.scriptLines)
  }

  hostConsole([levelHandle, messageHandle]: QuickJSHandle[]): void {
    if (!this.accepting() || levelHandle === undefined || messageHandle === undefined) return
    const context = this.context()
    const level = context.getString(levelHandle)
    if (!CONSOLE_LEVELS.has(level)) return
    const message = truncateUtf8(context.getString(messageHandle), this.plan.limits.maxConsoleMessageBytes, TRUNCATED)
    try {
      this.plan.onConsole?.(level as ConsoleLevel, message)
    } catch {
      // A failing log sink is the host's problem; it must not change the script's outcome.
    }
  }

  hostSettle([kindHandle, textHandle, lengthHandle]: QuickJSHandle[]): void {
    if (!this.accepting() || kindHandle === undefined || textHandle === undefined || lengthHandle === undefined) return
    const context = this.context()
    const kind = context.getString(kindHandle)
    const max = this.plan.limits.maxResultBytes
    const tooLarge = () => this.fail(limitError('result_too_large', `The handler result is larger than ${max} bytes`))
    // UTF-16 length <= UTF-8 byte length: a long string is too large before it is even copied out.
    if (kind === 'v' && context.getNumber(lengthHandle) > max) return tooLarge()
    const text = context.getString(textHandle)
    if (kind === 'v' && Buffer.byteLength(text, 'utf8') > max) return tooLarge()
    this.settled = { kind, text }
    this.wake()
  }

  hostFault(error: unknown): void {
    if (error instanceof GuestKilled) return this.fail(memoryError(this.plan.limits))
    this.fail(limitError('sandbox_internal', `Sandbox fault in a host callback: ${(error as Error)?.message ?? String(error)}`))
  }

  private context() {
    if (this.instance === undefined) throw new Error('The evaluation has finished')
    return this.instance.context
  }

  /** Takes over a preloaded script: its guest handles, its console lines, its CPU time and how loading ended. */
  private adopt(preloaded: Preloaded): void {
    this.api = preloaded.api
    this.workflow = preloaded.workflow
    this.budget.carry(preloaded.guestMs)
    for (const [level, message] of preloaded.logs) {
      try {
        this.plan.onConsole?.(level, message)
      } catch {
        // As for live console lines: a failing log sink must not change the script's outcome.
      }
    }
    if (preloaded.failure !== undefined) this.fail(preloaded.failure)
    else {
      const exceeded = this.budget.exceeded()
      if (exceeded !== undefined) this.fail(exceeded)
    }
  }

  private install(): void {
    if (this.failure !== undefined) return
    const { context, install } = this.instance as PreparedInstance
    const { globals, limits } = this.plan
    const enter: EnterGuest = (fn) => this.inGuest(fn)
    const api = installGuestApi(context, install, { globals, maxConsoleChars: limits.maxConsoleMessageBytes, enter })
    if (isGuestApi(api)) this.api = api
    else if (api !== undefined) this.fail(api)
  }

  private load(): void {
    if (this.failure !== undefined) return
    const context = this.context()
    const result = this.inGuest(() => context.evalCode(this.plan.code + SCRIPT_GLUE, SCRIPT_FILE, { type: 'global' }))
    if (result === undefined) return
    if (result.error !== undefined) return this.failWithGuestError(result.error)
    this.workflow = result.value
    this.pump()
  }

  private enter(): void {
    if (this.failure !== undefined || this.settled !== undefined) return
    const context = this.context()
    const { api, workflow } = this
    if (api === undefined || workflow === undefined) return
    const { entry } = this.plan
    this.phase = 'run'
    const args =
      entry.kind === 'handler'
        ? [workflow, ...[entry.handler.group, entry.handler.name, entry.handler.method, entry.argsJson].map((s) => context.newString(s))]
        : [workflow]
    const result = this.inGuest(() => context.callFunction(entry.kind === 'handler' ? api.run : api.describe, context.undefined, args))
    for (const handle of args.slice(1)) handle.dispose()
    this.settleCall(result)
    this.pump()
  }
}
