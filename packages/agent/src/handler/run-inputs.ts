/**
 * What a run's turns read and check before they act: the handler's config in the run's script version, the
 * `prepare_result` and handler state read back from the database (checked at that trust boundary), and the views the
 * pure state machine (`transitions.ts`) takes.
 */
import type { HandlerRun } from '@ledgerflow/db'
import { readJsonColumn } from '@ledgerflow/db'
import type { JsonValue } from '@ledgerflow/sandbox'
import type { EngineContext, LoadedScript } from '../context.js'
import { LogicError, toEngineError } from '../errors.js'
import { type PrepareResult, formatIssues, prepareResultSchema } from '../schemas.js'
import type { HandlerAccess } from '../tools/phase-gate.js'
import type { EvalResult, FailureInfo, PolicyContext, RunView, StateOutcome } from './transitions.js'

/** A handler's config as the run needs it. */
export interface HandlerInfo {
  access: HandlerAccess
  hasMutate: boolean
  hasNext: boolean
}

/** The run's handler in `script`; throws a `LogicError` (`handler_not_found`) when that version has none. */
export function handlerInfo(script: LoadedScript, run: Pick<HandlerRun, 'handler_type' | 'handler_name'>): HandlerInfo {
  if (run.handler_type === 'producer') {
    const p = script.config.producers.find((x) => x.name === run.handler_name)
    if (!p) throw new LogicError(`Producer '${run.handler_name}' does not exist in script version ${script.version}`, { code: 'handler_not_found' })
    return { access: { handler: p.name, subscribe: [], publishes: p.publishes }, hasMutate: false, hasNext: false }
  }
  const c = script.config.consumers.find((x) => x.name === run.handler_name)
  if (!c) throw new LogicError(`Consumer '${run.handler_name}' does not exist in script version ${script.version}`, { code: 'handler_not_found' })
  return { access: { handler: c.name, subscribe: c.subscribe, publishes: c.publishes }, hasMutate: c.hasMutate, hasNext: c.hasNext }
}

/** The run as the state machine sees it. Pure. */
export function view(run: HandlerRun): RunView {
  return {
    handlerType: run.handler_type,
    handlerName: run.handler_name,
    phase: run.phase,
    status: run.status,
    attempt: run.attempt,
    retryAt: run.retry_at,
  }
}

/** What the state machine's retry policy takes: now, the retry config and a random draw. */
export function policy(ctx: EngineContext): PolicyContext {
  return { now: ctx.clock.now(), retry: ctx.config.retry, random: ctx.random() }
}

/** The run as an evaluation names it (spans, logs, tool contexts). Pure. */
export function runRef(run: Pick<HandlerRun, 'id' | 'workflow_id' | 'handler_type' | 'handler_name'>) {
  return { id: run.id, workflowId: run.workflow_id, handlerType: run.handler_type, handlerName: run.handler_name }
}

/** An error as a failure the state machine records (message and classification). */
export function asFailure(error: unknown): FailureInfo {
  const e = toEngineError(error)
  return { message: e.message, type: e.type }
}

/** A parsed `prepare_result`, or why it could not be read (a corrupt row is an `internal` failure of the run). */
export type ParsedPrepared = { ok: true; value: PrepareResult } | { ok: false; error: FailureInfo }

/** The run's own `prepare_result` column, read back as the later phases see it. */
export function safePrepared(run: HandlerRun): ParsedPrepared {
  return parsePrepared(run.id, run.prepare_result)
}

/** A run's `prepare_result` column (JSON text), checked against the schema `prepare` results are held to. */
export function parsePrepared(runId: string, text: string | null): ParsedPrepared {
  try {
    const json = readJsonColumn(text, { table: 'handler_runs', column: 'prepare_result', rowId: runId })
    const parsed = prepareResultSchema.safeParse(json)
    if (parsed.success) return { ok: true, value: parsed.data }
    return { ok: false, error: { message: `Corrupt prepare_result of run ${runId}: ${formatIssues(parsed.error)}`, type: 'internal' } }
  } catch (error) {
    return { ok: false, error: asFailure(error) }
  }
}

/** A promise's outcome as a value: a read started early whose failure only matters if someone takes it. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** `promise`'s outcome as a {@link Settled} value (never rejects). */
export function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/** The handler's state as its phases take it (`null` when it has none). */
export async function loadState(ctx: EngineContext, run: Pick<HandlerRun, 'workflow_id' | 'handler_name'>): Promise<JsonValue> {
  const row = await ctx.db.handlerState.get(run.workflow_id, run.handler_name)
  return parseState(run, row?.state ?? null)
}

/** A handler's stored state (`handler_state.state`, `null` when it has none) as its phases take it; throws if corrupt. */
export function parseState(run: Pick<HandlerRun, 'workflow_id' | 'handler_name'>, text: string | null): JsonValue {
  if (text === null) return null
  return readJsonColumn(text, { table: 'handler_state', column: 'state', rowId: `${run.workflow_id}/${run.handler_name}` }) as JsonValue
}

/** The state a producer or `next` returned, as JSON to store, or a `logic` failure when it is over the size limit. */
export function stateOf(ctx: EngineContext, run: HandlerRun, result: EvalResult): StateOutcome {
  if (!result.ok || result.value === undefined) return { ok: true, json: undefined }
  const json = JSON.stringify(result.value)
  if (Buffer.byteLength(json) > ctx.config.maxStateBytes) {
    return {
      ok: false,
      error: { message: `'${run.handler_name}' returned a state of ${Buffer.byteLength(json)} bytes; the limit is ${ctx.config.maxStateBytes}`, type: 'logic' },
    }
  }
  return { ok: true, json }
}
