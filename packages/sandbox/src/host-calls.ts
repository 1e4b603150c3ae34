/**
 * The host side of tool calls: checks each call against the limits and the exposed namespaces, hands it to the
 * host handler, and encodes the outcome as an envelope string for the guest. Failed calls are recorded here, so
 * the classification of a host error that escapes the script comes from the host, never from the guest.
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'
import { limitError, toHostErrorData } from './errors.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import { firstWorkflowPosition } from './marshal.js'
import type { HostCall, HostErrorData, JsonValue, SandboxErrorData } from './types.js'

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
    let pending: Promise<JsonValue | undefined>
    try {
      pending = Promise.resolve(this.plan.host(call))
    } catch (error) {
      pending = Promise.reject(error)
    }
    pending.then(
      (value) => this.settle(index, this.encodeValue(call, value)),
      (error: unknown) => this.settle(index, this.encodeError(call, error)),
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

  private encodeValue(call: HostCall, value: JsonValue | undefined): string | undefined {
    if (value === undefined) return 'u'
    let json: string | undefined
    try {
      json = JSON.stringify(value)
    } catch {
      json = undefined
    }
    if (typeof json !== 'string') {
      const error = Object.assign(new TypeError(`${call.namespace}.${call.method} returned a value that is not JSON`), { type: 'internal' })
      return this.encodeError(call, error)
    }
    const max = this.plan.limits.maxArgumentBytes
    if (Buffer.byteLength(json, 'utf8') > max) {
      const message = `The result of ${call.namespace}.${call.method} is larger than ${max} bytes`
      this.owner.fail(limitError('argument_too_large', message, call.callSite))
      return undefined
    }
    return `v${json}`
  }

  private encodeError(call: HostCall, error: unknown): string {
    const data = toHostErrorData(error)
    this.failed.set(call.index, data)
    return `e${JSON.stringify({ ...data, id: call.index })}`
  }
}
