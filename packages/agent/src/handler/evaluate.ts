/** Runs one handler phase in the sandbox and turns the outcome into an {@link EvalResult}. */
import type { EvaluationOutcome, HostCallHandler, JsonValue, SandboxErrorData } from '@ledgerflow/sandbox'
import { SpanStatusCode } from '@opentelemetry/api'
import type { EngineContext, LoadedScript } from '../context.js'
import { SimulatedCrash } from '../faults.js'
import type { Tool } from '../tools/define-tool.js'
import { createHostBridge } from '../tools/host-bridge.js'
import type { EvalPhase, HandlerAccess } from '../tools/phase-gate.js'
import type { PeekAhead } from './peek-ahead.js'
import type { PhaseBuffer } from './phase-buffer.js'
import type { EvalResult, FailureInfo } from './transitions.js'

/** What to evaluate. */
export interface PhaseEvaluation {
  run: { id: string; workflowId: string; handlerType: 'producer' | 'consumer'; handlerName: string }
  script: LoadedScript
  phase: EvalPhase
  args: JsonValue[]
  access: HandlerAccess
  buffer: PhaseBuffer
  mutation?: (tool: Tool, input: unknown) => Promise<unknown>
  /**
   * Each host call waits for this before it runs; `false` fails it without running it (see `HeadStart`). Absent:
   * host calls run at once.
   */
  gate?: Promise<boolean>
  /**
   * With a gate: the engine's own reads of the workflow's events (`Topics.peek`, `Topics.getByIds`) run at once
   * instead of waiting. They change nothing and call nothing outside, so an abandoned evaluation still leaves nothing
   * behind; a `prepare` started while its run's row commits gets that far.
   */
  readsAhead?: boolean
  /** Aborts the evaluation (an abandoned head start). */
  signal?: AbortSignal
  /** `prepare`'s events read ahead by its session (see `PeekAhead`). */
  peeks?: PeekAhead
}

const METHOD: Record<EvalPhase, string> = { producer: 'handler', prepare: 'prepare', mutate: 'mutate', next: 'next' }

/** The error a held host call of an abandoned head start fails with; nobody reads the evaluation's outcome. */
class HeadStartAbandoned extends Error {
  constructor() {
    super('the evaluation was started ahead of its turn and abandoned')
  }
}

/** Whether a host call is one of the engine's reads of the workflow's events. Pure. */
function isEventRead(call: { namespace: string; method: string }): boolean {
  return call.namespace === 'Topics' && (call.method === 'peek' || call.method === 'getByIds')
}

/** Evaluates one phase. Never throws for what the script does. */
export async function evaluatePhase(ctx: EngineContext, e: PhaseEvaluation): Promise<EvalResult> {
  const handler = {
    group: e.run.handlerType === 'producer' ? ('producers' as const) : ('consumers' as const),
    name: e.run.handlerName,
    method: METHOD[e.phase],
  }
  return ctx.tracer.startActiveSpan(`ledgerflow.phase ${e.phase}`, async (span) => {
    span.setAttributes({
      'ledgerflow.workflow_id': e.run.workflowId,
      'ledgerflow.run_id': e.run.id,
      'ledgerflow.handler': `${handler.group}.${handler.name}.${handler.method}`,
      'ledgerflow.script_id': e.script.id,
    })
    const crashes = new CrashWatch(e.signal)
    try {
      const { signal } = crashes
      const host = createHostBridge({ ctx, run: e.run, phase: e.phase, access: e.access, buffer: e.buffer, signal, mutation: e.mutation, peeks: e.peeks })
      const outcome: EvaluationOutcome = await ctx.sandbox.evaluate({
        code: e.script.code,
        scriptKey: e.script.id,
        handler,
        args: e.args,
        globals: ctx.tools.globals,
        host: crashes.watch(gated(host, e)),
        onConsole: (level, message) => e.buffer.log(level, message),
        limits: ctx.config.sandbox,
        signal,
      })
      crashes.rethrow()
      span.setAttribute('ledgerflow.host_calls', outcome.stats.hostCalls)
      if (outcome.ok) return { ok: true as const, value: outcome.value }
      const error = describeSandboxError(outcome.error, e.phase, handler.name)
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
      e.buffer.log('error', error.message)
      return { ok: false as const, error }
    } finally {
      span.end()
    }
  })
}

/**
 * A simulated crash inside a host call must stop the engine, not become a script error: the watch remembers it,
 * aborts the evaluation, and rethrows it once the sandbox returns. A graceful stop never aborts an evaluation: the
 * phase finishes and the session stops between runs.
 */
class CrashWatch {
  readonly #controller = new AbortController()
  #crash: SimulatedCrash | undefined

  constructor(parent: AbortSignal | undefined) {
    // Linked by hand: AbortSignal.any keeps every combined signal alive until GC on Node 20, measurably slower here.
    parent?.addEventListener('abort', () => this.#controller.abort(parent.reason), { once: true })
  }

  /** The evaluation's signal: the caller's, and aborted by a crash. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** `host`, with a simulated crash it throws remembered and the evaluation aborted. */
  watch(host: HostCallHandler): HostCallHandler {
    return async (call) => {
      try {
        return await host(call)
      } catch (error) {
        if (SimulatedCrash.isInstance(error)) {
          this.#crash = error
          this.#controller.abort(error)
        }
        throw error
      }
    }
  }

  /** Throws the crash a host call met, if any. */
  rethrow(): void {
    if (this.#crash) throw this.#crash
  }
}

/**
 * `host` as an evaluation started ahead of its turn calls it: its reads of the workflow's events (when it reads
 * ahead) go at once, every other call waits for the turn and fails if the head start is abandoned.
 */
function gated(host: HostCallHandler, e: PhaseEvaluation): HostCallHandler {
  const gate = e.gate
  if (!gate) return host
  const readsAhead = e.readsAhead === true
  return async (call) => {
    if (readsAhead && isEventRead(call)) return host(call)
    if (!(await gate)) throw new HeadStartAbandoned()
    return host(call)
  }
}

/** A readable, whole message for a failed evaluation, with the script position when known. */
export function describeSandboxError(error: SandboxErrorData, phase: EvalPhase, handler: string): FailureInfo {
  const at = error.location ? ` (workflow.js:${error.location.line}:${error.location.column})` : ''
  const where = phase === 'producer' ? `producer '${handler}'` : `consumer '${handler}' ${phase}`
  const text = error.hostError ? error.message : `${error.name}: ${error.message}`
  return { message: `${where}: ${text}${at}`, type: error.type }
}
