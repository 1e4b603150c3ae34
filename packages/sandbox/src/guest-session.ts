/**
 * What an evaluation (see `evaluation.ts`) stands on: one plan bound to one instance, entering the guest with the CPU
 * clock running, running its promise jobs and delivering tool results, and how the evaluation ends: the first failure
 * wins, a host exception that unwound through the guest and an exception the guest threw are classified, the outcome
 * is built from the end state, and the guest handles are released.
 */
import type { QuickJSHandle } from 'quickjs-emscripten-core'
import { Budget } from './budget.js'
import { limitError, sandboxErrorData } from './errors.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import type { GuestApi } from './guest-api.js'
import { HostCalls } from './host-calls.js'
import { GuestKilled } from './instance-guard.js'
import { classifyThrown, parseGuestThrown } from './marshal.js'
import { buildOutcome, memoryError, type Settlement } from './outcome.js'
import type { PreparedInstance } from './quickjs-instance.js'
import type { EvaluationOutcome, SandboxErrorData } from './types.js'

/** One plan on one instance, entered and ended; {@link Evaluation} adds the phases that load and run it. @internal */
export abstract class GuestSession {
  protected readonly budget: Budget
  protected failure: SandboxErrorData | undefined
  protected settled: Settlement | undefined
  protected finished = false
  protected phase: 'load' | 'run' = 'load'
  protected readonly scriptLines: number
  protected readonly calls: HostCalls
  protected api: GuestApi | undefined
  protected workflow: QuickJSHandle | undefined
  protected wake: () => void = () => {}
  protected readonly done = new Promise<void>((resolve) => (this.wake = resolve))

  constructor(
    // Dropped when the evaluation finishes, so a host promise that never settles does not pin the instance.
    protected instance: PreparedInstance | undefined,
    protected readonly plan: EvaluationPlan,
  ) {
    this.scriptLines = plan.code.split('\n').length
    this.calls = new HostCalls(plan, this)
    this.budget = new Budget(plan.limits, plan.signal, plan.isAborted)
  }

  pauseClock(): void {
    this.budget.pause()
  }

  resumeClock(): void {
    this.budget.resume()
  }

  /** Ends the evaluation with `error` unless it already ended. */
  fail(error: SandboxErrorData): void {
    if (this.failure === undefined && this.settled === undefined && !this.finished) this.failure = error
    this.wake()
  }

  /** Whether guest requests are still served. */
  accepting(): boolean {
    return this.failure === undefined && this.settled === undefined && !this.finished && this.instance?.guard.memoryExhausted === false
  }

  /** Hands an envelope to a guest resolver (then disposes it) and runs the promise jobs it unblocked. */
  deliver(resolver: QuickJSHandle, envelope: string | undefined): void {
    const instance = this.instance
    if (instance === undefined || instance.guard.killed) return
    if (envelope === undefined || !this.accepting()) return resolver.dispose()
    const { context } = instance
    const result = this.inGuest(() => {
      const value = context.newString(envelope)
      try {
        return context.callFunction(resolver, context.undefined, value)
      } finally {
        value.dispose()
      }
    })
    if (instance.guard.killed) return
    resolver.dispose()
    this.settleCall(result)
    this.pump()
  }

  /** Disposes a guest call's result; an exception it carries ends the evaluation. */
  protected settleCall(result: { error?: QuickJSHandle; dispose(): void } | undefined): void {
    if (result === undefined) return
    if (result.error !== undefined) this.failWithGuestError(result.error)
    else result.dispose()
  }

  /** Runs queued promise jobs. An error returned here (an interrupt inside a job, F7) ends the evaluation. */
  protected pump(): void {
    if (!this.accepting()) return
    const runtime = (this.instance as PreparedInstance).runtime
    this.settleCall(this.inGuest(() => runtime.executePendingJobs(-1)))
    // The guest has no timers: with the job queue empty and no tool call in flight, nothing can ever wake it.
    if (this.phase === 'run' && this.accepting() && this.calls.inFlight === 0) {
      const message = 'The handler waits for a promise that can never settle (no tool call is in flight and no job is queued)'
      this.fail(sandboxErrorData({ code: 'script_error', name: 'DeadlockError', message }))
    }
  }

  /** Enters the guest with the CPU clock running; host exceptions unwinding out of WebAssembly end the evaluation. */
  protected inGuest<T>(enter: () => T): T | undefined {
    const instance = this.instance
    if (instance === undefined || instance.guard.killed) return undefined
    this.resumeClock()
    try {
      return enter()
    } catch (error) {
      this.onHostException(instance, error)
      return undefined
    } finally {
      this.pauseClock()
    }
  }

  /** A host exception unwound through WebAssembly frames: the instance's state is undefined from here on. */
  protected onHostException(instance: PreparedInstance, error: unknown): void {
    instance.guard.killed = true
    if (error instanceof GuestKilled) this.fail(memoryError(this.plan.limits))
    else if (error instanceof RangeError && /call stack/i.test(error.message)) {
      this.fail(limitError('sandbox_stack_overflow', 'The script overflowed the host stack (too much recursion)'))
    } else this.fail(limitError('sandbox_internal', `Sandbox fault: ${(error as Error)?.message ?? String(error)}`))
  }

  /** Classifies a guest exception handle (and disposes it). */
  protected failWithGuestError(handle: QuickJSHandle): void {
    const instance = this.instance as PreparedInstance
    if (this.failure !== undefined || this.settled !== undefined || instance.guard.memoryExhausted) {
      if (!instance.guard.killed) handle.dispose()
      // The first failure wins; an exhausted instance is reported as out of memory by outcome().
      return
    }
    const { context } = instance
    const { explain } = this.api ?? {}
    const described = explain === undefined ? undefined : this.inGuest(() => context.callFunction(explain, context.undefined, handle))
    if (!instance.guard.killed) handle.dispose()
    // Undefined: the explain call itself was stopped, and that already ended the evaluation.
    if (described === undefined) return
    if (described.error !== undefined) {
      described.error.dispose()
      return this.fail(limitError('script_error', 'The script threw a value that could not be described'))
    }
    const text = described.value.consume((h) => (context.typeof(h) === 'string' ? context.getString(h) : ''))
    this.fail(this.classify(text))
  }

  private classify(text: string): SandboxErrorData {
    const thrown = parseGuestThrown(text)
    if (thrown === undefined) return limitError('sandbox_internal', 'The guest described an error in an unexpected shape')
    return classifyThrown(thrown, { failedCalls: this.calls.failed, phase: this.phase, scriptLines: this.scriptLines })
  }

  protected outcome(): EvaluationOutcome {
    return buildOutcome({
      failure: this.failure,
      settled: this.settled,
      memoryExhausted: this.instance?.guard.memoryExhausted === true,
      limits: this.plan.limits,
      stats: { wallMs: this.budget.wallTime(), guestMs: this.budget.guestTime(), hostCalls: this.calls.count },
      classify: (text) => this.classify(text),
    })
  }

  /** Disposes what this evaluation holds in the instance; the caller then disposes the instance. */
  protected release(): void {
    const instance = this.instance
    this.instance = undefined
    if (instance === undefined) return
    instance.binding = undefined
    const handles = [...this.calls.releaseResolvers(), this.workflow, this.api?.run, this.api?.describe, this.api?.explain]
    if (instance.guard.killed) return
    try {
      for (const handle of handles) if (handle?.alive === true) handle.dispose()
    } catch {
      instance.guard.killed = true
    }
  }
}
