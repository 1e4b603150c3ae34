/**
 * The mutation ledger around the one external call of `mutate` (SPEC §6), and reconciliation of an unknown
 * outcome. The ledger row is committed `in_flight` BEFORE the tool runs; its outcome is committed after.
 * No mutation is ever issued twice for one ledger row: a row found `in_flight` is reconciled, never re-sent.
 */
import type { HandlerRun, LedgerflowTx, Mutation, NewMutation, RunMove } from '@ledgerflow/db'
import { changedMutation, insertedMutation, readJsonColumn } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import { type EngineError, InternalError, LogicError, serializeError, toEngineError } from '../errors.js'
import { rethrowCrash } from '../faults.js'
import { formatIssues, serializedErrorSchema } from '../schemas.js'
import type { Tool } from '../tools/define-tool.js'
import { NEVER_ABORTED, runTool, toolContext, traceToolCall } from '../tools/host-bridge.js'
import type { PhaseBuffer } from './phase-buffer.js'
import type { LedgerView, ReconcileObservation } from './transitions.js'

/** The idempotency key of a ledger row: stable for the row, across crashes and reconciliation. */
export function idempotencyKeyOf(mutationId: string): string {
  return `lf-${mutationId}`
}

/** Ledger columns as decisions see them. */
export function ledgerView(row: Mutation): LedgerView {
  let error: string | null = row.error
  if (row.error !== null) {
    try {
      const parsed = serializedErrorSchema.safeParse(JSON.parse(row.error))
      if (parsed.success) error = parsed.data.message
    } catch {
      // Not JSON: the text itself is the message.
    }
  }
  return {
    status: row.status,
    errorType: row.error_type,
    error,
    result: row.result === null ? null : readJsonColumn(row.result, { table: 'mutations', column: 'result', rowId: row.id }),
    reconcileAttempts: row.reconcile_attempts,
  }
}

function toJsonText(value: unknown): string | null {
  try {
    return JSON.stringify(value ?? null) ?? null
  } catch {
    return null
  }
}

/**
 * The ledger row each run's mutation last wrote, as written: the turn after `mutate` takes it instead of reading it
 * back. Cleared before every write and set only after it committed, so a failed write leaves nothing here.
 */
const written = new WeakMap<HandlerRun, Mutation>()

/** Takes the ledger row `run`'s mutation last wrote (undefined when its last write failed, or none was made). */
export function takeWrittenLedger(run: HandlerRun): Mutation | undefined {
  const row = written.get(run)
  written.delete(run)
  return row
}

/**
 * The `applied` write of each run's mutation while it commits, and the result it records (see
 * {@link performMutation}): the turn after `mutate` awaits it before it reads the ledger or writes anything else.
 */
const applying = new WeakMap<HandlerRun, Applying>()

/** An `applied` write under way. */
export interface Applying {
  /** Settles when the write committed (or failed: the ledger row then still says `in_flight`, or what moved it). */
  written: Promise<void>
  /** The result as the row records it (JSON text; `null` when the tool's value is not JSON). */
  resultJson: string | null
}

/** Takes the `applied` write of `run`'s mutation that is under way, if any; the caller must await it. */
export function takeApplying(run: HandlerRun): Applying | undefined {
  const pending = applying.get(run)
  applying.delete(run)
  return pending
}

/** Options of {@link performMutation}. */
export interface MutationCall {
  run: HandlerRun
  tool: Tool
  input: unknown
  buffer: PhaseBuffer
  uiTitle: string | null
}

/** A mutation call with its ledger row's id and the idempotency key derived from it. */
interface KeyedCall extends MutationCall {
  mutationId: string
  key: string
}

/** A mutation call whose ledger row is committed `in_flight` (`inFlight`, as written). */
interface InFlightCall extends MutationCall {
  inFlight: Mutation
}

/**
 * Performs the one mutation of a `mutate` evaluation: ledger `in_flight` (with the run at `mutating`) in one atomic
 * write, the external call, then `applied` (run `mutated`) or `failed` in another. Returns the tool's result to
 * the script, or throws the tool's classified error into the script.
 */
export async function performMutation(ctx: EngineContext, call: MutationCall): Promise<unknown> {
  const { run, tool } = call
  const mutationId = ctx.ids('mutation')
  const key = idempotencyKeyOf(mutationId)
  const site = { workflowId: run.workflow_id, sessionId: run.script_run_id, runId: run.id, phase: 'mutating' }

  // CRASH WINDOW: before this commit nothing is recorded and nothing was sent; recovery re-runs mutate.
  ctx.fault('run:before-checkpoint', site)
  const keyed: KeyedCall = { ...call, mutationId, key }
  const inFlight = await recordInFlight(ctx, keyed)
  // CRASH WINDOW: the row is durably in_flight and the call may or may not happen: recovery reconciles.
  ctx.fault('mutation:after-in-flight', site)
  ctx.events.emit('run:phase', { runId: run.id, workflowId: run.workflow_id, phase: 'mutating', status: 'active' })
  ctx.events.emit('mutation:in_flight', { mutationId, runId: run.id, workflowId: run.workflow_id, tool: tool.id })

  const called = await callTool(ctx, keyed)
  // CRASH WINDOW: the call returned; its outcome is not committed yet. Recovery reconciles the in_flight row.
  ctx.fault('mutation:after-call', site)
  if (called.ok) return settleApplied(ctx, { ...call, inFlight }, called.raw)
  return settleFailed(ctx, { ...call, inFlight }, called.failure)
}

/** Commits the ledger row `in_flight` and the run's move to `mutating` in one atomic write; returns the row. */
async function recordInFlight(ctx: EngineContext, call: KeyedCall): Promise<Mutation> {
  const { run, tool, input, buffer, mutationId, key } = call
  const now = ctx.clock.now()
  written.delete(run)
  const logs = buffer.takeLogs()
  const cost = buffer.takeCost()
  const row: NewMutation = {
    id: mutationId,
    handler_run_id: run.id,
    workflow_id: run.workflow_id,
    tool_namespace: tool.namespace,
    tool_method: tool.name,
    params: JSON.stringify(input ?? null),
    idempotency_key: key,
    status: 'in_flight',
    result: null,
    error: null,
    error_type: null,
    ui_title: call.uiTitle ?? safeTitle(tool, input),
    next_reconcile_at: null,
    resolved_by: null,
    resolved_at: null,
    created_at: now,
    updated_at: now,
  }
  const move: RunMove = { runId: run.id, from: { phase: 'prepared', status: 'active' }, to: { phase: 'mutating' } }
  // The row and the run's move are one atomic write (one statement on PostgreSQL); with log lines or cost to keep,
  // a transaction holds the three.
  const recorded =
    logs.length === 0 && cost === 0
      ? await ctx.db.mutations.insertMoving(row, move)
      : await ctx.db.transaction(async (tx) => {
          if (!(await tx.mutations.insertMoving(row, move))) return false
          await tx.logs.append(run.id, logs, { maxLines: ctx.config.maxLogLinesPerRun })
          await tx.runs.addCost(run.id, cost)
          return true
        })
  if (!recorded) throw new InternalError(`run ${run.id} was moved by another worker; the mutation was not sent`, { code: 'run_moved' })
  run.phase = 'mutating'
  const inFlight = insertedMutation(row)
  written.set(run, inFlight)
  return inFlight
}

/** The external call, traced; its failure as a classified error (a crash of the process is rethrown). */
async function callTool(
  ctx: EngineContext,
  { run, tool, input, buffer, mutationId, key }: KeyedCall,
): Promise<{ ok: true; raw: unknown } | { ok: false; failure: EngineError }> {
  const attributes = {
    'ledgerflow.tool': tool.id,
    'ledgerflow.tool_kind': 'mutation',
    'ledgerflow.phase': 'mutate',
    'ledgerflow.run_id': run.id,
    'ledgerflow.workflow_id': run.workflow_id,
    'ledgerflow.mutation_id': mutationId,
    'ledgerflow.idempotency_key': key,
  }
  try {
    const toolRun = { id: run.id, workflowId: run.workflow_id }
    const raw = await traceToolCall(ctx, { attributes }, () =>
      runTool(tool, input, toolContext({ run: toolRun, phase: 'mutate', buffer, signal: NEVER_ABORTED, idempotencyKey: key })),
    )
    return { ok: true, raw }
  } catch (error) {
    rethrowCrash(error)
    return { ok: false, failure: toEngineError(error) }
  }
}

/**
 * The call returned: the row becomes `applied` and the run `mutated`. A result that fails the tool's output schema is
 * still recorded as applied (the side effect happened) and thrown into the script as a logic error.
 */
async function settleApplied(ctx: EngineContext, call: InFlightCall, raw: unknown): Promise<unknown> {
  const { run, tool, inFlight } = call
  let value: unknown = raw ?? null
  let outputError: LogicError | undefined
  if (tool.output) {
    const parsed = tool.output.safeParse(raw)
    if (parsed.success) value = parsed.data ?? null
    else outputError = new LogicError(`Invalid output from ${tool.id}: ${formatIssues(parsed.error)}`, { code: 'invalid_tool_output' })
  }
  const resultJson = toJsonText(value)
  const applied = () => ctx.events.emit('mutation:applied', { mutationId: inFlight.id, runId: run.id, workflowId: run.workflow_id, tool: tool.id })
  if (outputError) {
    await commitOutcome(ctx, call, { outcome: { status: 'applied', result: resultJson }, phase: 'mutated' })
    applied()
    throw outputError
  }
  // The script gets the result while the outcome commits, so that the rest of `mutate` (and `next`, started ahead
  // by the turn) runs during that round trip. Nothing else is written until it settles: the turn after `mutate`
  // awaits it (`takeApplying`) before it reads the ledger or checkpoints, and decides from the row as committed.
  // CRASH WINDOW: the script goes on in memory only; a crash before this write commits leaves the row in_flight,
  // and recovery reconciles it, as after the call.
  const commit = commitOutcome(ctx, call, { outcome: { status: 'applied', result: resultJson }, phase: 'mutated' }).then(applied)
  commit.catch(() => {}) // awaited by the turn; a failure is handled there
  applying.set(run, { written: commit, resultJson })
  return value
}

/**
 * The call threw: a tool that says the effect did not happen makes the row `failed`; any other error leaves it
 * `in_flight` with the error recorded, to be reconciled after the evaluation. Either way the error goes to the script.
 */
async function settleFailed(ctx: EngineContext, call: InFlightCall, failure: EngineError): Promise<never> {
  const { run, tool, inFlight } = call
  const errorJson = JSON.stringify(serializeError(failure))
  if (failure.notApplied) {
    await commitOutcome(ctx, call, { outcome: { status: 'failed', error: errorJson, errorType: failure.type }, phase: undefined })
    ctx.events.emit('mutation:failed', { mutationId: inFlight.id, runId: run.id, workflowId: run.workflow_id, tool: tool.id, error: failure.message })
  } else {
    // Unknown outcome: the row stays in_flight (with the error recorded) and is reconciled after the evaluation.
    await commitOutcome(ctx, call, { outcome: { status: 'in_flight', error: errorJson, errorType: failure.type }, phase: undefined })
  }
  throw failure
}

function safeTitle(tool: Tool, input: unknown): string | null {
  try {
    return tool.title ? tool.title(input as never) : null
  } catch {
    return null
  }
}

/** What a call's outcome commits: the ledger row's change, and the run's move to `phase` (none: the run stays). */
interface OutcomeCommit {
  outcome: { status: 'applied' | 'failed' | 'in_flight'; result?: string | null; error?: string; errorType?: Mutation['error_type'] }
  phase: 'mutated' | undefined
}

async function commitOutcome(ctx: EngineContext, call: InFlightCall, { outcome, phase }: OutcomeCommit): Promise<void> {
  const { run, buffer, inFlight: ledger } = call
  const mutationId = ledger.id
  written.delete(run)
  const logs = buffer.takeLogs()
  const cost = buffer.takeCost()
  const now = ctx.clock.now()
  const change = { ...outcome, now }
  // The row's change and the run's move are one atomic write (one statement on PostgreSQL); with log lines or cost
  // to keep, a transaction holds them all.
  const settle = (db: EngineContext['db'] | LedgerflowTx) =>
    phase
      ? db.mutations.transitionMoving({
          id: mutationId,
          from: ['in_flight'],
          change,
          move: { runId: run.id, from: { phase: 'mutating', status: 'active' }, to: { phase, attempt: 1 } },
        })
      : db.mutations.transition(mutationId, ['in_flight'], change)
  const moved = () => new InternalError(`ledger row ${mutationId} is no longer in_flight`, { code: 'ledger_moved' })
  if (logs.length === 0 && cost === 0) {
    if (!(await settle(ctx.db))) throw moved()
  } else {
    await ctx.db.transaction(async (tx) => {
      if (!(await settle(tx))) throw moved()
      await tx.logs.append(run.id, logs, { maxLines: ctx.config.maxLogLinesPerRun })
      await tx.runs.addCost(run.id, cost)
    })
  }
  written.set(run, changedMutation(ledger, change))
  if (phase) {
    run.phase = phase
    run.attempt = 1
    ctx.fault('run:after-checkpoint', { workflowId: run.workflow_id, sessionId: run.script_run_id, runId: run.id, phase })
    ctx.events.emit('run:phase', { runId: run.id, workflowId: run.workflow_id, phase, status: 'active' })
  }
}

/** A reconciliation: the run, its ledger row with the unknown outcome, and the buffer the tool's logs and cost go to. */
export interface ReconcileCall {
  run: HandlerRun
  ledger: Mutation
  buffer: PhaseBuffer
}

/** Asks the tool whether a call with an unknown outcome happened. Never throws for the tool's faults. */
export async function observeReconcile(ctx: EngineContext, { run, ledger, buffer }: ReconcileCall): Promise<ReconcileObservation> {
  const tool = ctx.tools.get(ledger.tool_namespace, ledger.tool_method)
  const id = `${ledger.tool_namespace}.${ledger.tool_method}`
  if (!tool) return { kind: 'no-reconcile', reason: `tool ${id} is not registered, so the outcome cannot be checked` }
  if (!tool.reconcile) return { kind: 'no-reconcile', reason: `${id} has no reconcile, so the outcome cannot be checked` }
  let recorded: unknown
  try {
    recorded = readJsonColumn(ledger.params, { table: 'mutations', column: 'params', rowId: ledger.id })
  } catch (error) {
    // Unreadable input: the outcome cannot be checked, so it is parked for a person (never re-sent, never dropped).
    return { kind: 'no-reconcile', reason: toEngineError(error).message }
  }
  const params = tool.input.safeParse(recorded)
  if (!params.success) return { kind: 'no-reconcile', reason: `the recorded input no longer matches ${id}: ${formatIssues(params.error)}` }
  try {
    const ctxForTool = toolContext({
      run: { id: run.id, workflowId: run.workflow_id },
      phase: 'reconcile',
      buffer,
      signal: NEVER_ABORTED,
      idempotencyKey: ledger.idempotency_key,
    })
    const answer = await runTool({ ...tool, execute: (input, c) => tool.reconcile!(input, c) } as Tool, params.data, ctxForTool)
    const r = answer as { status?: unknown; result?: unknown } | undefined
    if (r?.status === 'applied') return { kind: 'applied', resultJson: toJsonText(r.result) }
    if (r?.status === 'not_applied') return { kind: 'not_applied' }
    return { kind: 'unknown', reason: `${id}.reconcile could not tell` }
  } catch (error) {
    rethrowCrash(error)
    return { kind: 'unknown', reason: `${id}.reconcile failed: ${toEngineError(error).message}` }
  }
}
