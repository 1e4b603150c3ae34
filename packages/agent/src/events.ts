/**
 * Typed engine events: every state change emits one, on an in-process emitter. Listeners run synchronously and
 * must not throw (a throwing listener is reported on `listener:error` and otherwise ignored).
 */
import type { BudgetKind, ErrorType, HandlerType, MutationStatus, RunPhase, RunStatus, SessionStatus, SessionTrigger, WorkflowStatus } from '@ledgerflow/db'

/** Every engine event and its payload. */
export interface EngineEventMap {
  'workflow:deployed': { workflowId: string; scriptId: string; version: number }
  'workflow:status': { workflowId: string; from: WorkflowStatus | undefined; to: WorkflowStatus; reason?: string }
  'session:start': { sessionId: string; workflowId: string; trigger: SessionTrigger }
  'session:end': {
    sessionId: string
    workflowId: string
    status: Exclude<SessionStatus, 'running'>
    error?: string
    budgetExhausted?: BudgetKind
  }
  'session:recovered': { sessionId: string; workflowId: string; previousOwner: string | null }
  'run:start': { runId: string; sessionId: string; workflowId: string; handlerType: HandlerType; handlerName: string }
  'run:phase': { runId: string; workflowId: string; phase: RunPhase; status: RunStatus }
  'run:end': { runId: string; workflowId: string; phase: RunPhase; status: RunStatus; error?: string; errorType?: ErrorType }
  'mutation:in_flight': { mutationId: string; runId: string; workflowId: string; tool: string }
  'mutation:applied': { mutationId: string; runId: string; workflowId: string; tool: string }
  'mutation:failed': { mutationId: string; runId: string; workflowId: string; tool: string; error: string }
  'mutation:indeterminate': { mutationId: string; runId: string; workflowId: string; tool: string; error: string }
  'mutation:resolved': { mutationId: string; workflowId: string; status: MutationStatus; resolvedBy: string }
  'event:published': { workflowId: string; topic: string; messageId: string; eventId: string; runId: string | null }
  'event:duplicate': { workflowId: string; topic: string; messageId: string; runId: string | null }
  'event:dead': { workflowId: string; runId: string; count: number }
  /**
   * A phase evaluation started ahead of its turn (`EngineConfig.headStart`) was taken by its turn, or abandoned
   * (the run went another way; nothing of the evaluation was kept).
   */
  'evaluation:ahead': { runId: string; workflowId: string; phase: string; taken: boolean }
  'tool:call': { runId: string; workflowId: string; phase: string; tool: string; ms: number; ok: boolean }
  'scheduler:tick': { due: number; started: number; nextWakeAt: number | undefined }
  'scheduler:tick:empty': { nextWakeAt: number | undefined }
  'worker:start': { workerId: string }
  'worker:session': { workflowId: string; trigger: SessionTrigger; result?: { status: string; error?: string; budgetExhausted?: BudgetKind } }
  'worker:error': { workflowId?: string; error: unknown }
  'worker:stop': { workerId: string; graceful: boolean }
  'recovery:done': { sessions: number; runs: number }
  'listener:error': { event: string; error: unknown }
}

/** Names of engine events. */
export type EngineEventName = keyof EngineEventMap

/** A listener of one event. */
export type EngineListener<K extends EngineEventName> = (payload: EngineEventMap[K]) => void

/** The typed emitter. */
export class EngineEmitter {
  readonly #listeners = new Map<EngineEventName, Set<(payload: never) => void>>()
  readonly #any = new Set<(event: EngineEventName, payload: unknown) => void>()

  /** Adds a listener of every event (tests, tracing, progress displays); returns a function that removes it. */
  onAny(listener: (event: EngineEventName, payload: unknown) => void): () => void {
    this.#any.add(listener)
    return () => this.#any.delete(listener)
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends EngineEventName>(event: K, listener: EngineListener<K>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener as (payload: never) => void)
    return () => this.off(event, listener)
  }

  /** Adds a listener that runs once. */
  once<K extends EngineEventName>(event: K, listener: EngineListener<K>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  off<K extends EngineEventName>(event: K, listener: EngineListener<K>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void)
  }

  emit<K extends EngineEventName>(event: K, payload: EngineEventMap[K]): void {
    for (const listener of this.#any) {
      try {
        listener(event, payload)
      } catch (error) {
        if (event !== 'listener:error') this.emit('listener:error', { event, error })
      }
    }
    const set = this.#listeners.get(event)
    if (!set || set.size === 0) return
    for (const listener of [...set]) {
      try {
        ;(listener as EngineListener<K>)(payload)
      } catch (error) {
        if (event !== 'listener:error') this.emit('listener:error', { event, error })
      }
    }
  }

  /** Number of listeners of an event. */
  listenerCount(event: EngineEventName): number {
    return this.#listeners.get(event)?.size ?? 0
  }
}
