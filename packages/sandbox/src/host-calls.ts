/**
 * The host side of tool calls: checks each call against the limits and the exposed namespaces, hands it to the
 * host handler, and encodes the outcome as an envelope string for the guest. Failed calls are recorded here, so
 * the classification of a host error that escapes the script comes from the host, never from the guest.
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'
import { limitError, toHostErrorData } from './errors.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import { firstWorkflowPosition } from './marshal.js'
import type { HostCall, HostCallHandler, HostErrorData, JsonValue, SandboxErrorData } from './types.js'

/**
 * A host call's answer as plain data: the JSON text of the tool's value, `undefined`, or the host error as data.
 * It is computed where the host handler runs (the calling thread) and may cross a thread boundary.
 */
export type HostReply = { kind: 'value'; json: string } | { kind: 'undefined' } | { kind: 'error'; error: HostErrorData }

/**
 * Calls `host` and turns what it returns or throws into a {@link HostReply}. Never throws. A value JSON cannot
 * represent becomes an `internal` TypeError, as if the tool had thrown it.
 */
export async function replyOf(host: HostCallHandler, call: HostCall): Promise<HostReply> {
  let value: JsonValue | undefined
  try {
    value = await host(call)
  } catch (error) {
    return { kind: 'error', error: toHostErrorData(error) }
  }
  if (value === undefined) return { kind: 'undefined' }
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  if (typeof json !== 'string') {
    const error = Object.assign(new TypeError(`${call.namespace}.${call.method} returned a value that is not JSON`), { type: 'internal' })
    return { kind: 'error', error: toHostErrorData(error) }
  }
  return { kind: 'value', json }
}

/** What {@link HostCalls} needs from the evaluation it belongs to. */
export interface HostCallOwner {
  fail(error: SandboxErrorData): void
  /** Resolves the guest promise of a call with `envelope` (or only disposes `resolver` when undefined). */
  deliver(resolver: QuickJSHandle, envelope: string | undefined): void
}

/** Tool calls of one evaluation. */
export class HostCalls {
  /** Calls made so far, including a refused one past the limit. */
  count = 0
  /** Failed calls by index: the trusted host-side record of host errors. */
  readonly failed = new Map<number, HostErrorData>()
  private readonly resolvers = new Map<number, QuickJSHandle>()
  /** Exposed methods, numbered in the order the prelude numbers them. */
  private readonly tools: ReadonlyArray<{ namespace: string; method: string }>

  constructor(
    private readonly plan: EvaluationPlan,
    private readonly owner: HostCallOwner,
  ) {
    this.tools = plan.globals.flatMap(([namespace, methods]) => methods.map((method) => ({ namespace, method })))
  }

  /** Starts a call the guest made: `(toolId, inputJson, inputLength, callSiteStack, resolve)`. */
  start(context: QuickJSContext, args: QuickJSHandle[], scriptLines: number): void {
    const [toolHandle, jsonHandle, lengthHandle, stackHandle, resolveHandle] = args
    const tool = toolHandle === undefined ? undefined : this.tools[context.getNumber(toolHandle)]
    if (tool === undefined || jsonHandle === undefined || lengthHandle === undefined || stackHandle === undefined || resolveHandle === undefined) {
      return this.owner.fail(limitError('sandbox_internal', 'Malformed host call from the prelude'))
    }
    const index = this.count++
    const { limits } = this.plan
    if (this.count > limits.maxHostCalls) {
      return this.owner.fail(limitError('host_call_limit', `The script made more than ${limits.maxHostCalls} host calls`))
    }
    const { namespace, method } = tool
    const callSite = firstWorkflowPosition(context.getString(stackHandle), scriptLines)
    const tooLarge = () =>
      this.owner.fail(
        limitError('argument_too_large', `The input of ${namespace}.${method} is larger than ${limits.maxArgumentBytes} bytes`, callSite),
      )
    // UTF-16 length <= UTF-8 byte length: an over-long input is refused before it is copied out of the guest.
    if (context.getNumber(lengthHandle) > limits.maxArgumentBytes) return tooLarge()
    const json = context.getString(jsonHandle)
    if (Buffer.byteLength(json, 'utf8') > limits.maxArgumentBytes) return tooLarge()
    const call: HostCall = { namespace, method, input: JSON.parse(json) as JsonValue, index }
    if (callSite !== undefined) call.callSite = callSite
    this.resolvers.set(index, resolveHandle.dup())
    // A plan may bring its own transport (a worker thread asks the calling thread); the reply is the same data.
    const reply = this.plan.reply ? this.plan.reply(call) : replyOf(this.plan.host, call)
    reply.then(
      (r) => this.settle(index, this.encode(call, r)),
      (error: unknown) => this.settle(index, this.encode(call, { kind: 'error', error: toHostErrorData(error) })),
    )
  }

  /** Number of calls whose result the guest still waits for. */
  get inFlight(): number {
    return this.resolvers.size
  }

  /** Takes the resolvers of calls still in flight (their results will be ignored). */
  releaseResolvers(): QuickJSHandle[] {
    const pending = [...this.resolvers.values()]
    this.resolvers.clear()
    return pending
  }

  private settle(index: number, envelope: string | undefined): void {
    const resolver = this.resolvers.get(index)
    if (resolver === undefined) return
    this.resolvers.delete(index)
    this.owner.deliver(resolver, envelope)
  }

  /** The envelope the guest's resolver receives; `undefined` when the evaluation failed instead (too large). */
  private encode(call: HostCall, reply: HostReply): string | undefined {
    if (reply.kind === 'undefined') return 'u'
    if (reply.kind === 'error') return this.encodeError(call, reply.error)
    const max = this.plan.limits.maxArgumentBytes
    if (Buffer.byteLength(reply.json, 'utf8') > max) {
      const message = `The result of ${call.namespace}.${call.method} is larger than ${max} bytes`
      this.owner.fail(limitError('argument_too_large', message, call.callSite))
      return undefined
    }
    return `v${reply.json}`
  }

  private encodeError(call: HostCall, data: HostErrorData): string {
    this.failed.set(call.index, data)
    return `e${JSON.stringify({ ...data, id: call.index })}`
  }
}
