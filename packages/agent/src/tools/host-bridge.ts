/**
 * The host side of one phase evaluation: every tool call from the script passes the phase gate, input validation
 * and (for reads) execution here. Mutations are handed to the ledger code of the handler.
 */
import type { HostCall, HostCallHandler, JsonValue } from '@ledgerflow/sandbox'
import { readJsonColumn } from '@ledgerflow/db'
import { type Attributes, type Context, SpanStatusCode, context } from '@opentelemetry/api'
import type { z } from 'zod'
import type { EngineContext } from '../context.js'
import { LogicError, NetworkError, toEngineError } from '../errors.js'
import type { PeekAhead } from '../handler/peek-ahead.js'
import type { PhaseBuffer } from '../handler/phase-buffer.js'
import { formatIssues, getByIdsInputSchema, peekInputSchema, publishInputSchema } from '../schemas.js'
import type { Tool, ToolContext, ToolPhase } from './define-tool.js'
import { toolUsage } from './define-tool.js'
import { type EvalPhase, type GateState, type HandlerAccess, checkOperation } from './phase-gate.js'

/** Options of {@link createHostBridge}. */
export interface HostBridgeOptions {
  ctx: EngineContext
  run: { id: string; workflowId: string }
  phase: EvalPhase
  access: HandlerAccess
  buffer: PhaseBuffer
  signal: AbortSignal
  /** Performs the one mutation of `mutate` (ledger before and after the call). */
  mutation?: (tool: Tool, input: unknown) => Promise<unknown>
  /** Events the session read ahead for `prepare`'s first `Topics.peek` (see `PeekAhead`). */
  peeks?: PeekAhead | undefined
}

/** A signal that never aborts: tool calls are bounded by their own timeouts, never cut by a graceful stop. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal

/** Builds the host call handler for one evaluation. */
export function createHostBridge(options: HostBridgeOptions): HostCallHandler {
  const { ctx, run, phase, access, buffer } = options
  const gate: GateState = { mutationCalled: false }

  function allow(op: Operation): void {
    const decision = checkOperation(phase, op, gate, access)
    if (!decision.allowed) throw new LogicError(decision.message, { code: 'phase_violation' })
  }

  /** Everything one call does (except the span and the `tool:call` event). */
  async function perform(call: HostCall, tool: Tool | undefined): Promise<JsonValue | undefined> {
    const toolName = `${call.namespace}.${call.method}`
    if (call.namespace === 'Topics') return callTopics(options, allow, call)
    if (!tool) throw new LogicError(`Unknown tool ${toolName}`, { code: 'unknown_tool' })
    const parsed = tool.input.safeParse(call.input)
    if (!parsed.success) {
      throw new LogicError(`Invalid input for ${toolName}: ${formatIssues(parsed.error)}. Usage: ${toolUsage(tool)}`, {
        code: 'invalid_tool_input',
      })
    }
    allow({ kind: tool.kind, tool: toolName })
    if (tool.kind === 'mutation') {
      gate.mutationCalled = true
      if (!options.mutation) throw new LogicError(`${toolName} cannot be called here`, { code: 'phase_violation' })
      // The ledger code opens the mutation's own `ledgerflow.tool` span once the row is durably in_flight.
      return (await context.with(parentContext, () => options.mutation!(tool, parsed.data))) as JsonValue | undefined
    }
    const raw = await runTool(tool, parsed.data, toolContext({ run, phase, buffer, signal: options.signal }))
    return validateOutput(tool, raw) as JsonValue | undefined
  }

  // The phase's span, captured here rather than read from the active context inside a host call: the sandbox calls
  // back from its own promise jobs, and tool spans must stay children of the phase whatever the sandbox does.
  const parentContext = context.active()

  return async (call) => {
    const started = performance.now()
    const toolName = `${call.namespace}.${call.method}`
    const tool = call.namespace === 'Topics' ? undefined : ctx.tools.get(call.namespace, call.method)
    let ok = false
    try {
      const result =
        tool?.kind === 'mutation'
          ? await perform(call, tool)
          : await traceToolCall(ctx, { parent: parentContext, attributes: toolSpanAttributes(call, tool, options) }, () => perform(call, tool))
      ok = true
      return result
    } finally {
      ctx.events.emit('tool:call', { runId: run.id, workflowId: run.workflowId, phase, tool: toolName, ms: performance.now() - started, ok })
    }
  }
}

/** An operation the phase gate checks. */
type Operation = Parameters<typeof checkOperation>[1]

/** The built-in `Topics` tools: reads of the workflow's pending events, and publishes buffered until the checkpoint. */
async function callTopics(options: HostBridgeOptions, allow: (op: Operation) => void, call: HostCall): Promise<JsonValue | undefined> {
  const { ctx, run } = options
  const name = `Topics.${call.method}`
  switch (call.method) {
    case 'peek': {
      const input = parse(peekInputSchema, call.input, { name, usage: 'Topics.peek({ topic, limit? }) returns pending events, oldest first' })
      allow({ kind: 'peek', tool: name, topic: input.topic })
      const limit = input.limit ?? 100
      const events = options.peeks?.peek(input.topic, limit) ?? (await ctx.db.events.peekPending(run.workflowId, input.topic, limit))
      return events.map((e) => eventView(e, input.topic))
    }
    case 'getByIds': {
      const input = parse(getByIdsInputSchema, call.input, { name, usage: 'Topics.getByIds({ topic, ids }) returns events with those messageIds' })
      allow({ kind: 'peek', tool: name, topic: input.topic })
      const events = await ctx.db.events.getByMessageIds(run.workflowId, input.topic, input.ids)
      return events.map((e) => eventView(e, input.topic))
    }
    case 'publish': {
      const input = parse(publishInputSchema, call.input, { name, usage: 'Topics.publish({ topic, event: { messageId, title?, payload? } })' })
      allow({ kind: 'publish', tool: name, topic: input.topic })
      publishToBuffer(ctx, options.buffer, input)
      return undefined
    }
    default:
      throw new LogicError(`Unknown tool Topics.${call.method}`, { code: 'unknown_tool' })
  }
}

/** Buffers an event for the run's checkpoint, within the payload and per-run limits; a repeated messageId is ignored. */
function publishToBuffer(ctx: EngineContext, buffer: PhaseBuffer, input: z.infer<typeof publishInputSchema>): void {
  const payload = JSON.stringify(input.event.payload ?? null)
  if (Buffer.byteLength(payload) > ctx.config.maxPayloadBytes) {
    throw new LogicError(
      `Topics.publish: payload of event '${input.event.messageId}' is ${Buffer.byteLength(payload)} bytes; the limit is ${ctx.config.maxPayloadBytes}`,
      { code: 'payload_too_large' },
    )
  }
  if (buffer.publishes.length >= ctx.config.maxPublishesPerRun) {
    throw new LogicError(`Topics.publish: more than ${ctx.config.maxPublishesPerRun} events in one run`, { code: 'too_many_publishes' })
  }
  const added = buffer.publish({ topic: input.topic, messageId: input.event.messageId, title: input.event.title ?? '', payload })
  if (!added) buffer.log('info', `Topics.publish: messageId '${input.event.messageId}' was already published to '${input.topic}' in this run; ignored`)
}

/** The attributes of a sandbox tool call's span: the tool, and the phase and run of the bridge's `options`. */
function toolSpanAttributes(call: HostCall, tool: Tool | undefined, { phase, run }: Pick<HostBridgeOptions, 'phase' | 'run'>): Attributes {
  const input = call.input
  const topic = typeof input === 'object' && input !== null && !Array.isArray(input) ? input.topic : undefined
  return {
    'ledgerflow.tool': `${call.namespace}.${call.method}`,
    'ledgerflow.tool_kind': call.namespace === 'Topics' ? 'topics' : (tool?.kind ?? 'unknown'),
    'ledgerflow.phase': phase,
    'ledgerflow.run_id': run.id,
    'ledgerflow.workflow_id': run.workflowId,
    ...(typeof topic === 'string' ? { 'ledgerflow.topic': topic.slice(0, 200) } : {}),
  }
}

/** The span of one tool call: its attributes, and its parent (default: the active span). */
export interface ToolSpan {
  attributes: Attributes
  parent?: Context | undefined
}

/**
 * Runs one tool call inside a `ledgerflow.tool <id>` span (a child of `span.parent`, or of the active span); a throw
 * marks the span as an error with the engine's error type. Used for sandbox tool calls and for the mutation call itself.
 */
export async function traceToolCall<T>(ctx: EngineContext, { attributes, parent }: ToolSpan, fn: () => Promise<T>): Promise<T> {
  return ctx.tracer.startActiveSpan(`ledgerflow.tool ${String(attributes['ledgerflow.tool'])}`, { attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn()
    } catch (error) {
      const e = toEngineError(error)
      span.setAttribute('ledgerflow.error_type', e.type)
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.message })
      throw error
    } finally {
      span.end()
    }
  })
}

/** Validates a `Topics` call's input; the error names the tool and shows its usage. */
function parse<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } },
  value: unknown,
  { name, usage }: { name: string; usage: string },
): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new LogicError(`Invalid input for ${name}: ${formatIssues(parsed.error)}. Usage: ${usage}`, { code: 'invalid_tool_input' })
  return parsed.data
}

function eventView(e: { id: string; message_id: string; title: string; payload: string; status: string; attempt_number: number; sequence: number; created_at: number }, topic: string) {
  return {
    topic,
    messageId: e.message_id,
    title: e.title,
    payload: readJsonColumn(e.payload, { table: 'events', column: 'payload', rowId: e.id }) as JsonValue,
    status: e.status,
    attempt: e.attempt_number,
    createdAt: e.created_at,
  }
}

/** Options of {@link toolContext}: the call's run and phase, where its logs and cost go, and its signal. */
export interface ToolContextOptions {
  run: { id: string; workflowId: string }
  phase: ToolPhase
  buffer: PhaseBuffer
  signal: AbortSignal
  /** The ledger row's key, for a mutation's call and its reconciliation. */
  idempotencyKey?: string
}

/** The context a tool's `execute` or `reconcile` receives. */
export function toolContext({ run, phase, buffer, signal, idempotencyKey }: ToolContextOptions): ToolContext {
  return {
    workflowId: run.workflowId,
    runId: run.id,
    phase,
    signal,
    idempotencyKey,
    addCost(microdollars) {
      if (!Number.isFinite(microdollars) || microdollars < 0) {
        throw new TypeError(`addCost expects a non-negative number of microdollars, got ${microdollars}`)
      }
      buffer.addCost(Math.round(microdollars))
    },
    log(level, message) {
      buffer.log(level, String(message))
    },
  }
}

/** Runs a tool's `execute` with its timeout; a timeout is a `network` error. */
export async function runTool(tool: Tool, input: unknown, toolCtx: ToolContext): Promise<unknown> {
  const timeoutMs = tool.timeoutMs ?? 30_000
  const controller = new AbortController()
  const onAbort = () => controller.abort(toolCtx.signal.reason)
  toolCtx.signal.addEventListener('abort', onAbort, { once: true })
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new NetworkError(`${tool.id} timed out after ${timeoutMs} ms`, { code: 'tool_timeout' })
        controller.abort(error)
        reject(error)
      }, timeoutMs)
    })
    return await Promise.race([tool.execute(input as never, { ...toolCtx, signal: controller.signal }), timeout])
  } catch (error) {
    throw toEngineError(error)
  } finally {
    clearTimeout(timer)
    toolCtx.signal.removeEventListener('abort', onAbort)
  }
}

/** Validates a tool's result against its output schema (when it has one). */
export function validateOutput(tool: Tool, raw: unknown): unknown {
  if (!tool.output) return raw ?? null
  const parsed = tool.output.safeParse(raw)
  if (!parsed.success) {
    throw new LogicError(`Invalid output from ${tool.id}: ${formatIssues(parsed.error)}`, { code: 'invalid_tool_output' })
  }
  return parsed.data ?? null
}
