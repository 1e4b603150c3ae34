/**
 * The handler state machine of SPEC §6 as pure decisions: given a run (and the ledger row, and what an evaluation
 * returned), what the run's next checkpoint writes, as data. Pure; does not execute effects — `execute-handler.ts`
 * performs them, each decision in one transaction.
 *
 * Producer: `pending → executing → committed`.
 * Consumer: `pending → preparing → prepared → mutating → mutated → emitting → committed`.
 *
 * Phases that carry no data are not checkpointed on their own: a session creates runs directly in their first
 * phase, and `next` runs from `prepared` (no mutation), `mutated` or `emitting` alike; a crash there re-runs `next`,
 * which has no external effect (its publishes are buffered until the commit).
 */
import type { ErrorType, Reservation, RunPhase, RunStatus } from '@ledgerflow/db'
import type { RetryPolicy } from '../config.js'
import { type PrepareResult, formatIssues, prepareResultSchema } from '../schemas.js'
import { type Stage, backoffDelay, failurePolicy } from './policy.js'

/** The subset of a run that decisions read. */
export interface RunView {
  handlerType: 'producer' | 'consumer'
  handlerName: string
  phase: RunPhase
  status: RunStatus
  attempt: number
  retryAt: number | null
}

/** The subset of a ledger row that decisions read. */
export interface LedgerView {
  status: 'pending' | 'in_flight' | 'applied' | 'failed' | 'indeterminate' | 'skipped'
  errorType: ErrorType | null
  error: string | null
  result: unknown
  reconcileAttempts: number
}

/** An error as decisions see it. */
export interface FailureInfo {
  message: string
  type: ErrorType
}

/** The outcome of one evaluation. */
export type EvalResult = { ok: true; value: unknown } | { ok: false; error: FailureInfo }

/** What `next` receives as its second argument (SPEC §2). */
export type MutationResult = { status: 'applied'; result: unknown } | { status: 'none' } | { status: 'skipped' }

/** Time, retry policy and jitter for decisions. */
export interface PolicyContext {
  now: number
  retry: RetryPolicy
  /** A number in [0, 1). */
  random: number
}

/** Columns a checkpoint writes on the run. `ended` sets `end_timestamp` to the checkpoint time. */
export interface RunPatch {
  phase?: RunPhase
  status?: RunStatus
  attempt?: number
  retryAt?: number | null
  error?: string | null
  errorType?: ErrorType | null
  ended?: boolean
  prepareResult?: string
  inputState?: string | null
  outputState?: string | null
}

/** A ledger write. */
export interface LedgerChange {
  status: LedgerView['status']
  result?: string | null
  error?: string | null
  errorType?: ErrorType | null
  reconcileAttempts?: number
  nextReconcileAt?: number | null
}

/** Side effects of a checkpoint, performed in the same transaction as its {@link RunPatch}. */
export type Effect =
  | { type: 'reserve'; reservations: Reservation[] }
  | { type: 'events'; action: 'consume' | 'skip' | 'release' }
  /** Write the events the phase published (buffered until now). */
  | { type: 'publish' }
  /** Save the handler state (JSON text). */
  | { type: 'state'; state: string }
  | { type: 'wakeup'; idleAfterSequence: number | null; wakeAt: number | null }
  /** Set the workflow's status, only if it is still `active` (an operator's pause is never overwritten). */
  | { type: 'workflow'; to: 'error' | 'paused'; error: string; errorType: ErrorType }
  | { type: 'ledger'; change: LedgerChange }
  /** End this run and continue in a new run (same handler, reservations moved), e.g. to retry a mutation. */
  | { type: 'retry-run'; phase: RunPhase; status: 'active' | 'waiting'; retryAt: number | null; attempt: number }

/** One checkpoint: the run's new columns and the effects, written together. */
export interface Decision {
  patch: RunPatch
  effects: Effect[]
}

/** What `executeHandler` does next with a run. */
export type Step =
  | { kind: 'done' }
  | { kind: 'not-due'; retryAt: number }
  | { kind: 'activate' }
  | { kind: 'start'; phase: 'executing' | 'preparing' }
  | { kind: 'evaluate'; phase: 'producer' | 'prepare' | 'mutate' | 'next' }
  | { kind: 'ledger' }

/** Chooses the next step of a run. Pure. */
export function nextStep(run: RunView, now: number, prepared: { reservations: number; hasMutate: boolean }): Step {
  if (run.status === 'committed' || run.status === 'failed' || run.status === 'paused') return { kind: 'done' }
  if (run.status === 'waiting') {
    return run.retryAt !== null && run.retryAt > now ? { kind: 'not-due', retryAt: run.retryAt } : { kind: 'activate' }
  }
  if (run.handlerType === 'producer') {
    if (run.phase === 'pending') return { kind: 'start', phase: 'executing' }
    return run.phase === 'executing' ? { kind: 'evaluate', phase: 'producer' } : { kind: 'done' }
  }
  switch (run.phase) {
    case 'pending':
      return { kind: 'start', phase: 'preparing' }
    case 'preparing':
      return { kind: 'evaluate', phase: 'prepare' }
    case 'prepared':
      return prepared.reservations > 0 && prepared.hasMutate
        ? { kind: 'evaluate', phase: 'mutate' }
        : { kind: 'evaluate', phase: 'next' }
    case 'mutating':
      return { kind: 'ledger' }
    case 'mutated':
    case 'emitting':
      return { kind: 'evaluate', phase: 'next' }
    default:
      return { kind: 'done' }
  }
}

/** The checkpoint of a failed phase, by the failure policy. Pure. */
export function failure(run: RunView, error: FailureInfo, stage: Stage, phase: RunPhase, pc: PolicyContext): Decision {
  const outcome = failurePolicy({ type: error.type, stage, attempt: run.attempt, now: pc.now, retry: pc.retry, random: pc.random })
  const base = { phase, error: error.message, errorType: error.type }
  switch (outcome.status) {
    case 'waiting':
      return { patch: { ...base, status: 'waiting', retryAt: outcome.retryAt, attempt: outcome.attempt }, effects: [] }
    case 'paused':
      return {
        patch: { ...base, status: 'paused', retryAt: null },
        effects: [{ type: 'workflow', to: 'paused', error: pausedReason(run, error), errorType: error.type }],
      }
    case 'failed': {
      const effects: Effect[] = []
      if (run.handlerType === 'consumer' && outcome.reservations === 'release') effects.push({ type: 'events', action: 'release' })
      effects.push({ type: 'workflow', to: 'error', error: `${label(run)} failed: ${error.message}`, errorType: error.type })
      return { patch: { ...base, status: 'failed', retryAt: null, ended: true }, effects }
    }
  }
}

function label(run: RunView): string {
  return `${run.handlerType === 'producer' ? 'Producer' : 'Consumer'} '${run.handlerName}'`
}

function pausedReason(run: RunView, error: FailureInfo): string {
  return `${label(run)} needs a person (${error.type}): ${error.message}`
}

const SUCCESS = { attempt: 1, retryAt: null, error: null, errorType: null } as const

/** The producer's checkpoint after its handler ran. Pure. */
export function producerOutcome(run: RunView, result: EvalResult, state: StateOutcome, pc: PolicyContext): Decision {
  if (!result.ok) return failure(run, result.error, 'before', 'executing', pc)
  if (!state.ok) return failure(run, state.error, 'before', 'executing', pc)
  const effects: Effect[] = [{ type: 'publish' }]
  if (state.json !== undefined) effects.push({ type: 'state', state: state.json })
  return {
    patch: { ...SUCCESS, phase: 'committed', status: 'committed', ended: true, outputState: state.json ?? null },
    effects,
  }
}

/** A handler's returned state, serialized and size-checked by the caller. */
export type StateOutcome = { ok: true; json: string | undefined } | { ok: false; error: FailureInfo }

/** The consumer's checkpoint after `prepare` ran. Pure. */
export function prepareOutcome(
  run: RunView,
  result: EvalResult,
  consumer: { subscribe: readonly string[] },
  observedSequence: number,
  pc: PolicyContext,
): Decision {
  if (!result.ok) return failure(run, result.error, 'before', 'preparing', pc)
  const parsed = parsePrepareResult(run.handlerName, result.value, consumer.subscribe)
  if (!parsed.ok) return failure(run, parsed.error, 'before', 'preparing', pc)
  const { value, wakeAt } = parsed
  const reservations = value.reservations.filter((r) => r.ids.length > 0)
  const effects: Effect[] = []
  if (reservations.length > 0) effects.push({ type: 'reserve', reservations })
  // With nothing reserved the consumer is not eligible again until events newer than the ones it saw arrive.
  effects.push({
    type: 'wakeup',
    idleAfterSequence: reservations.length > 0 ? null : observedSequence,
    wakeAt: wakeAt === undefined ? null : Math.max(wakeAt, pc.now + 1000),
  })
  return { patch: { ...SUCCESS, phase: 'prepared', prepareResult: JSON.stringify(value) }, effects }
}

/** Validates what `prepare` returned. Pure. */
export function parsePrepareResult(
  consumer: string,
  value: unknown,
  subscribe: readonly string[],
): { ok: true; value: PrepareResult; wakeAt: number | undefined } | { ok: false; error: FailureInfo } {
  const parsed = prepareResultSchema.safeParse(value)
  if (!parsed.success) {
    return logic(
      `Consumer '${consumer}' prepare must return { reservations: [{ topic, ids: [messageId, ...] }], data?, ui?: { title? }, wakeAt? }; got ${preview(value)} (${formatIssues(parsed.error)})`,
    )
  }
  for (const r of parsed.data.reservations) {
    if (!subscribe.includes(r.topic)) {
      return logic(`Consumer '${consumer}' prepare reserved events of topic '${r.topic}', which it does not subscribe to`)
    }
  }
  let wakeAt: number | undefined
  const raw = parsed.data.wakeAt
  if (raw !== undefined) {
    wakeAt = typeof raw === 'number' ? raw : Date.parse(raw)
    if (!Number.isFinite(wakeAt)) return logic(`Consumer '${consumer}' prepare returned wakeAt ${JSON.stringify(raw)}, which is not a date`)
  }
  return { ok: true, value: parsed.data, wakeAt }
}

function logic(message: string): { ok: false; error: FailureInfo } {
  return { ok: false, error: { message, type: 'logic' } }
}

function preview(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

/** What follows `mutate`, decided from the ledger. */
export type AfterMutate = { kind: 'next'; mutation: MutationResult } | { kind: 'decide'; decision: Decision } | { kind: 'reconcile' }

/** After `mutate` ran: the ledger row (if a tool was called) decides. Pure. */
export function mutateOutcome(run: RunView, ledger: LedgerView | undefined, result: EvalResult, pc: PolicyContext): AfterMutate {
  if (!ledger) {
    if (result.ok) return { kind: 'next', mutation: { status: 'none' } }
    return { kind: 'decide', decision: failure(run, result.error, 'before', 'prepared', pc) }
  }
  if (ledger.status === 'applied' && !result.ok) {
    // The effect happened; what failed is the script after it (e.g. a further tool call).
    return { kind: 'decide', decision: failure(run, result.error, 'after', 'mutated', pc) }
  }
  return ledgerOutcome(run, ledger, pc)
}

/** A run at `mutating` (after a crash, or after mutate): the ledger row decides. Pure. */
export function ledgerOutcome(run: RunView, ledger: LedgerView, pc: PolicyContext): AfterMutate {
  switch (ledger.status) {
    case 'applied':
      return { kind: 'next', mutation: { status: 'applied', result: ledger.result } }
    case 'skipped':
      return { kind: 'next', mutation: { status: 'skipped' } }
    case 'pending':
    case 'in_flight':
      return { kind: 'reconcile' }
    case 'indeterminate':
      return { kind: 'decide', decision: indeterminate(run, ledger.error ?? 'outcome unknown', pc) }
    case 'failed':
      return { kind: 'decide', decision: mutationNotApplied(run, { message: ledger.error ?? 'mutation failed', type: ledger.errorType ?? 'internal' }, pc) }
  }
}

/**
 * The mutation definitely did not happen. logic/internal: the run fails and releases its events; auth/permission:
 * the run pauses (resuming retries the mutation in a new run); network: retried in a new run with backoff.
 */
export function mutationNotApplied(run: RunView, error: FailureInfo, pc: PolicyContext): Decision {
  if (error.type === 'network') {
    if (run.attempt >= pc.retry.maxAttempts) return failure(run, error, 'before', 'mutating', pc)
    const retryAt = pc.now + backoffDelay(run.attempt, pc.retry, pc.random)
    return {
      patch: { phase: 'mutating', status: 'failed', ended: true, error: `mutation not applied: ${error.message}`, errorType: 'network' },
      effects: [{ type: 'retry-run', phase: 'prepared', status: 'waiting', retryAt, attempt: run.attempt + 1 }],
    }
  }
  return failure(run, error, 'before', 'mutating', pc)
}

/** The outcome stays unknown: the ledger is parked `indeterminate` and the run pauses for a person. Pure. */
export function indeterminate(run: RunView, reason: string, _pc: PolicyContext): Decision {
  const message = `mutation outcome unknown: ${reason}`
  return {
    patch: { phase: 'mutating', status: 'paused', retryAt: null, error: message, errorType: 'indeterminate' },
    effects: [
      { type: 'ledger', change: { status: 'indeterminate', nextReconcileAt: null } },
      { type: 'workflow', to: 'paused', error: `${label(run)}: ${message}; resolve it (applied, not_applied or skip)`, errorType: 'indeterminate' },
    ],
  }
}

/** What a reconcile attempt found. */
export type ReconcileObservation =
  | { kind: 'applied'; resultJson: string | null }
  | { kind: 'not_applied' }
  | { kind: 'unknown'; reason: string }
  | { kind: 'no-reconcile'; reason: string }

/** The checkpoint after asking the tool to reconcile an unknown outcome. Pure. */
export function reconcileOutcome(
  run: RunView,
  ledger: LedgerView,
  observation: ReconcileObservation,
  maxAttempts: number,
  pc: PolicyContext,
): Decision {
  const attempts = ledger.reconcileAttempts + 1
  switch (observation.kind) {
    case 'applied':
      return {
        patch: { ...SUCCESS, phase: 'mutated' },
        effects: [{ type: 'ledger', change: { status: 'applied', result: observation.resultJson, reconcileAttempts: attempts, nextReconcileAt: null } }],
      }
    case 'not_applied': {
      // The error the call failed with decides what follows (auth: a person; network or a crash: retry).
      const type = ledger.errorType === null || ledger.errorType === 'indeterminate' ? 'network' : ledger.errorType
      const error = { message: `reconciliation found that the mutation did not happen${ledger.error ? ` (${ledger.error})` : ''}`, type }
      const decision = mutationNotApplied(run, error, pc)
      return {
        ...decision,
        effects: [
          { type: 'ledger', change: { status: 'failed', errorType: type, reconcileAttempts: attempts, nextReconcileAt: null } },
          ...decision.effects,
        ],
      }
    }
    case 'no-reconcile':
      return indeterminate(run, observation.reason, pc)
    case 'unknown': {
      if (attempts >= maxAttempts) {
        const decision = indeterminate(run, `${observation.reason} (after ${attempts} reconciliation attempts)`, pc)
        return { ...decision, effects: decision.effects.map((e) => (e.type === 'ledger' ? { ...e, change: { ...e.change, reconcileAttempts: attempts } } : e)) }
      }
      const retryAt = pc.now + backoffDelay(attempts, pc.retry, pc.random)
      return {
        patch: { phase: 'mutating', status: 'waiting', retryAt, error: `reconciling: ${observation.reason}`, errorType: 'network' },
        effects: [{ type: 'ledger', change: { status: 'in_flight', reconcileAttempts: attempts, nextReconcileAt: retryAt } }],
      }
    }
  }
}

/** The consumer's commit after `next` ran (or was absent). Pure. */
export function nextOutcome(run: RunView, result: EvalResult, state: StateOutcome, mutation: MutationResult, pc: PolicyContext): Decision {
  if (!result.ok) return failure(run, result.error, 'after', 'emitting', pc)
  if (!state.ok) return failure(run, state.error, 'after', 'emitting', pc)
  const effects: Effect[] = [{ type: 'events', action: mutation.status === 'skipped' ? 'skip' : 'consume' }, { type: 'publish' }]
  if (state.json !== undefined) effects.push({ type: 'state', state: state.json })
  return {
    patch: { ...SUCCESS, phase: 'committed', status: 'committed', ended: true, outputState: state.json ?? null },
    effects,
  }
}
