import { AuthError, type ErrorType, InternalError, LogicError, NetworkError, PermissionError, type Tool, type ToolPhase, defineTool } from '@ledgerflow/agent'
import { z } from 'zod'

/** What one call of a recording tool does. */
export type ToolOutcome =
  /** Succeed with this result (for mutations: the effect is applied). */
  | { ok: unknown }
  /** Throw a classified error before anything happens (`notApplied` tells the engine it did not happen). */
  | { error: ErrorType; message?: string; notApplied?: boolean }
  /** Apply the effect, then throw (e.g. `network`: a timeout after the outside system did the work). */
  | { applyThenError: ErrorType; message?: string }
  /** Never settle: the engine's tool timeout (or the sandbox wall timer) ends the call. */
  | 'never'
  /**
   * Apply the effect, then never settle: the real "timeout after applying" (the tool's `timeoutMs` turns it into a
   * `network` error, and reconciliation finds the effect).
   */
  | 'apply-then-never'

/** What a recording mutation tool's `reconcile` answers. */
export type ReconcileOutcome =
  /** Look the idempotency key up in the effect log (the default). */
  | 'truth'
  /** Answer `unknown`: the outside system cannot tell (enough of these park the mutation as indeterminate). */
  | 'unknown'
  /** Throw a classified error. */
  | { error: ErrorType; message?: string }

/** One call as {@link RecordingToolOptions.decide} sees it. */
export interface CallInfo {
  input: unknown
  /** 0-based index of the call on this tool (in this process). */
  index: number
  phase: ToolPhase
  runId: string
  workflowId: string
  idempotencyKey?: string
}

/** The outside world of recording tools: effects by idempotency key. Swap in a durable one for crash campaigns. */
export interface EffectLog {
  /** Records an effect; returns how many times this key has now been applied. */
  apply(key: string, input: unknown): number
  /** How many times the key was applied (0 when never). */
  count(key: string): number
  /** Every key with its count. */
  entries(): Array<{ key: string; count: number; input: unknown }>
}

/** An in-memory {@link EffectLog}. */
export function memoryEffectLog(): EffectLog {
  const map = new Map<string, { count: number; input: unknown }>()
  return {
    apply(key, input) {
      const e = map.get(key) ?? { count: 0, input }
      e.count++
      map.set(key, e)
      return e.count
    },
    count: (key) => map.get(key)?.count ?? 0,
    entries: () => [...map].map(([key, e]) => ({ key, ...e })),
  }
}

/** One recorded call. */
export interface RecordedCall {
  input: unknown
  phase: ToolPhase
  runId: string
  workflowId: string
  idempotencyKey?: string
  outcome: 'ok' | 'error' | 'applied-then-error' | 'never' | 'applied-then-never'
}

/** Options of {@link recordingTool}. */
export interface RecordingToolOptions {
  namespace: string
  name: string
  kind: 'read' | 'mutation'
  description?: string
  input?: z.ZodType
  output?: z.ZodType
  /** Result of a successful call (default: `{ ok: true, key }` for mutations, `null` for reads). */
  result?: (input: unknown, callIndex: number) => unknown
  /** Outcomes of the next calls, in order; afterwards calls succeed (or ask `decide`). */
  outcomes?: ToolOutcome[]
  /**
   * Decides the outcome of a call once the scripted queue is empty (`undefined`: succeed). Deterministic functions of
   * the idempotency key (or run id) make a scenario replay exactly across processes, as crash campaigns need.
   */
  decide?: (call: CallInfo) => ToolOutcome | undefined
  /** Mutations: answer `reconcile` from the effect log (default true). */
  reconcile?: boolean
  /** Mutations: what `reconcile` answers for a key (default `'truth'`). */
  reconcileAnswer?: (idempotencyKey: string, input: unknown) => ReconcileOutcome
  /**
   * Called right after an effect was applied to the effect log, before the tool returns: the crash window "the
   * outside system did it, the answer never arrived". Crash campaigns kill the process here.
   */
  onEffect?: (idempotencyKey: string) => void
  /** Reports this cost (microdollars) on every call. */
  cost?: number
  timeoutMs?: number
  /** Where applied effects go (default: in memory). */
  effects?: EffectLog
}

/** A tool that records every call and whose outcomes can be scripted. */
export interface RecordingTool {
  readonly tool: Tool
  readonly calls: RecordedCall[]
  readonly effects: EffectLog
  /** Queues outcomes for the next calls. */
  script(...outcomes: ToolOutcome[]): void
  /** Keys whose effect was applied more than once (must stay empty). */
  duplicateEffects(): string[]
  /** Number of reconcile calls. */
  reconciles: number
}

const ERRORS: Record<ErrorType, (message: string, notApplied?: boolean) => Error> = {
  auth: (m, n) => new AuthError(m, { notApplied: n }),
  permission: (m, n) => new PermissionError(m, { notApplied: n }),
  network: (m, n) => new NetworkError(m, { notApplied: n }),
  logic: (m) => new LogicError(m),
  internal: (m) => new InternalError(m),
  indeterminate: (m) => new InternalError(m),
}

/**
 * Creates a recording tool.
 *
 * ### Examples
 * ```ts
 * const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
 * email.script({ applyThenError: 'network' }) // the first send times out after the mail went out
 * const env = await createTestEngine({ tools: [email.tool] })
 * ```
 */
export function recordingTool(options: RecordingToolOptions): RecordingTool {
  const queue = [...(options.outcomes ?? [])]
  const calls: RecordedCall[] = []
  const effects = options.effects ?? memoryEffectLog()
  const state = { reconciles: 0 }
  const isMutation = options.kind === 'mutation'
  const resultOf = (input: unknown, key: string | undefined, index: number) =>
    options.result ? options.result(input, index) : isMutation ? { ok: true, key: key ?? null } : null
  const tool = defineTool({
    namespace: options.namespace,
    name: options.name,
    kind: options.kind,
    description: options.description ?? `Recording test tool ${options.namespace}.${options.name}.`,
    input: options.input ?? z.unknown(),
    ...(options.output ? { output: options.output } : {}),
    timeoutMs: options.timeoutMs ?? 5_000,
    async execute(input, ctx) {
      const index = calls.length
      const info: CallInfo = { input, index, phase: ctx.phase, runId: ctx.runId, workflowId: ctx.workflowId, idempotencyKey: ctx.idempotencyKey }
      const outcome = queue.shift() ?? options.decide?.(info) ?? { ok: undefined }
      const record = (o: RecordedCall['outcome']) =>
        calls.push({ input, phase: ctx.phase, runId: ctx.runId, workflowId: ctx.workflowId, idempotencyKey: ctx.idempotencyKey, outcome: o })
      if (options.cost) ctx.addCost(options.cost)
      if (outcome === 'never') {
        record('never')
        return new Promise<never>(() => {})
      }
      if (typeof outcome === 'object' && 'error' in outcome) {
        record('error')
        throw ERRORS[outcome.error](outcome.message ?? `${options.namespace}.${options.name} failed (${outcome.error})`, outcome.notApplied)
      }
      if (isMutation) {
        const key = ctx.idempotencyKey ?? `${ctx.runId}:${index}`
        effects.apply(key, input)
        options.onEffect?.(key)
      }
      if (outcome === 'apply-then-never') {
        record('applied-then-never')
        return new Promise<never>(() => {})
      }
      if ('applyThenError' in outcome) {
        record('applied-then-error')
        throw ERRORS[outcome.applyThenError](outcome.message ?? `${options.namespace}.${options.name} lost its answer (${outcome.applyThenError})`)
      }
      record('ok')
      return (outcome.ok !== undefined ? outcome.ok : resultOf(input, ctx.idempotencyKey, index)) as never
    },
    ...(isMutation && options.reconcile !== false
      ? {
          async reconcile(input: unknown, ctx: { idempotencyKey?: string }) {
            state.reconciles++
            const key = ctx.idempotencyKey!
            const answer = options.reconcileAnswer?.(key, input) ?? 'truth'
            if (answer === 'unknown') return { status: 'unknown' as const }
            if (answer !== 'truth') throw ERRORS[answer.error](answer.message ?? `${options.namespace}.${options.name}.reconcile failed (${answer.error})`)
            return effects.count(key) > 0 ? { status: 'applied' as const, result: resultOf(input, key, -1) } : { status: 'not_applied' as const }
          },
        }
      : {}),
  })
  return {
    tool,
    calls,
    effects,
    script: (...outcomes) => queue.push(...outcomes),
    duplicateEffects: () => effects.entries().filter((e) => e.count > 1).map((e) => e.key),
    get reconciles() {
      return state.reconciles
    },
  }
}
