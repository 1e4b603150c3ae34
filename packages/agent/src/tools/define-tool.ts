import { z } from 'zod'
import type { LogLevel } from '@ledgerflow/db'

/** The evaluation phases a tool can be called from (plus `reconcile`, when the engine asks a mutation tool). */
export type ToolPhase = 'producer' | 'prepare' | 'mutate' | 'next' | 'reconcile'

/** What a tool's `execute` receives besides its input. */
export interface ToolContext {
  workflowId: string
  runId: string
  phase: ToolPhase
  /** Aborted when the tool's timeout passes or the engine stops. */
  signal: AbortSignal
  /** Reports spend in microdollars; stored on the run. */
  addCost(microdollars: number): void
  /** Writes a line to the run's log. */
  log(level: LogLevel, message: string): void
  /**
   * Mutation tools only: stable for this ledger entry across crashes and reconciliation. Pass it to the outside
   * API (as an idempotency key header, a client reference, a file name...) so a repeated call can be detected.
   */
  idempotencyKey?: string
}

/** What `reconcile` found out about a call whose outcome was unknown. */
export type ReconcileResult = { status: 'applied'; result?: unknown } | { status: 'not_applied' } | { status: 'unknown' }

/** A tool definition, as written by the tool author. */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  /** Global object name in scripts, e.g. `Email` (an identifier; `Topics` and `console` are reserved). */
  namespace: string
  /** Method name, e.g. `send`. */
  name: string
  /** `read` tools may run in producers and prepare; `mutation` tools only once in mutate, with a ledger entry. */
  kind: 'read' | 'mutation'
  /** One sentence for script authors (and LLMs); shown in usage errors. */
  description: string
  /** Schema of the single input argument. */
  input: I
  /** Schema of the result; when set, results are validated. */
  output?: O
  /** Does the work. Throw classified errors (`NetworkError`, `AuthError`, ...); unknown errors are `internal`. */
  execute(input: z.output<I>, ctx: ToolContext): Promise<z.input<O> | void>
  /**
   * Mutation tools: decides whether a call whose outcome is unknown (crash or network error during the call)
   * happened, e.g. by looking the idempotency key up at the outside service.
   */
  reconcile?(input: z.output<I>, ctx: ToolContext): Promise<ReconcileResult>
  /** Mutation tools: a short human title of the effect for the ledger (`ui_title`). */
  title?(input: z.output<I>): string
  /** Abort `execute` after this many ms (as a `network` error). Default 30000. */
  timeoutMs?: number
}

/** A validated, frozen tool. */
export type Tool = Readonly<ToolDefinition<z.ZodType, z.ZodType>> & { readonly id: string }

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const RESERVED_NAMESPACES = new Set(['Topics', 'console', 'workflow', 'globalThis'])

/**
 * Defines a tool that workflow scripts can call as `Namespace.name(input)`.
 *
 * ### Examples
 * ```ts
 * const send = defineTool({
 *   namespace: 'Email', name: 'send', kind: 'mutation',
 *   description: 'Sends one email.',
 *   input: z.object({ to: z.string().email(), subject: z.string(), body: z.string() }),
 *   output: z.object({ messageId: z.string() }),
 *   async execute(input, ctx) {
 *     return mailer.send({ ...input, headers: { 'Idempotency-Key': ctx.idempotencyKey! } })
 *   },
 *   async reconcile(input, ctx) {
 *     const sent = await mailer.findByIdempotencyKey(ctx.idempotencyKey!)
 *     return sent ? { status: 'applied', result: { messageId: sent.id } } : { status: 'not_applied' }
 *   },
 * })
 * ```
 */
export function defineTool<I extends z.ZodType, O extends z.ZodType = z.ZodType>(definition: ToolDefinition<I, O>): Tool {
  const { namespace, name, kind } = definition
  if (!IDENTIFIER.test(namespace)) throw new TypeError(`Tool namespace '${namespace}' is not an identifier`)
  if (RESERVED_NAMESPACES.has(namespace)) throw new TypeError(`Tool namespace '${namespace}' is reserved`)
  if (!IDENTIFIER.test(name)) throw new TypeError(`Tool name '${namespace}.${name}' is not an identifier`)
  if (kind !== 'read' && kind !== 'mutation') throw new TypeError(`Tool ${namespace}.${name}: kind must be 'read' or 'mutation'`)
  if (!(definition.input instanceof z.ZodType)) throw new TypeError(`Tool ${namespace}.${name}: input must be a zod schema`)
  if (definition.reconcile && kind !== 'mutation') {
    throw new TypeError(`Tool ${namespace}.${name}: only mutation tools can reconcile`)
  }
  return Object.freeze({ ...(definition as unknown as ToolDefinition), id: `${namespace}.${name}` })
}

/** A short usage text of a tool, for error messages: description and input shape. */
export function toolUsage(tool: Tool): string {
  let shape: string
  try {
    shape = JSON.stringify(z.toJSONSchema(tool.input, { unrepresentable: 'any' }))
  } catch {
    shape = '(see the tool documentation)'
  }
  return `${tool.id}(input): ${tool.description} Input schema: ${shape}`
}
